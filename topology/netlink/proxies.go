package netlink

import "strings"

// Proxies maps each proxy of the link (by the name it was added with: "lb",
// "sql", "share-b", ...) to the address that clients dial, so that a fault
// can send real bytes through the link and observe its effect.
func (l *Link) Proxies() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.proxies))
	for _, p := range l.proxies {
		out[strings.TrimPrefix(p.Name, l.name+"/")] = p.Listen
	}
	return out
}
