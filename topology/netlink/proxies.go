package netlink

import (
	"strings"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

func init() {
	// Toxiproxy's toxics log through zerolog's global logger (a bandwidth
	// toxic logs every interruption at trace level when a fault removes
	// it); only its warnings belong in a drill's output.
	zlog.Logger = zlog.Logger.Level(zerolog.WarnLevel)
}

// Proxies maps each proxy of the link (by the name it was added with: "lb",
// "sql", "share-b", ...) to the address that clients dial, so that a fault
// can send real bytes through it and observe its effect.
func (l *Link) Proxies() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.proxies))
	for _, p := range l.proxies {
		out[strings.TrimPrefix(p.Name, l.name+"/")] = p.Listen
	}
	return out
}
