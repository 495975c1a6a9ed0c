package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

// The customer notices travel over HTTP, as they would to a status page or
// a webhook: the runbook posts each one as JSON (NoticePayload) to a
// notification sink, and the sink, not the runbook, records what it
// received in the history (history.EvCustomerNotified, stamped with the
// time it was received). customer-notice judges those records: what a
// customer was actually told, never what the runbook believes it said.

// Bounds of the runbook's post of one notice: each attempt waits at most
// NoticeAttemptTimeout (wall) for an answer, and a notice is tried at most
// NoticeAttempts times, NoticeRetryBackoff apart (doubling), before the
// runbook records it undelivered and moves on.
const (
	NoticeAttemptTimeout = 2 * time.Second
	NoticeAttempts       = 3
	NoticeRetryBackoff   = 100 * time.Millisecond
)

// NoticePath is where the notification sink takes notices.
const NoticePath = "/notices"

// maxNoticeBytes bounds the body the sink reads.
const maxNoticeBytes = 64 << 10

// NoticePayload is a notice as posted to the sink: JSON, one per request.
// ID is the same for every attempt of one notice, so that a retry of a
// notice the sink already took is not recorded twice.
type NoticePayload struct {
	ID        string `json:"id"`
	Direction string `json:"direction"`
	From      string `json:"from"`
	To        string `json:"to"`
	Message   string `json:"message"`
	// SignOff is set on a failover the runbook judged possibly lossy;
	// ExpectedLossServiceS is then the service seconds of writes that may
	// be lost, LossSince the newest commit the secondary holds.
	SignOff              bool       `json:"sign_off,omitempty"`
	ExpectedLossServiceS *float64   `json:"expected_loss_service_s,omitempty"`
	LossSince            *time.Time `json:"loss_since,omitempty"`
	// SentAt is when the runbook first posted it (wall).
	SentAt time.Time `json:"sent_at"`
}

// Payload is the notice as posted; id names it across retries.
func (n Notice) Payload(id string, sent time.Time) NoticePayload {
	p := NoticePayload{ID: id, Direction: n.Direction, From: string(n.From), To: string(n.To), Message: n.Message(), SentAt: sent}
	if n.SignOff {
		loss := n.ExpectedLoss.Seconds()
		p.SignOff, p.ExpectedLossServiceS = true, &loss
		if !n.LossSince.IsZero() {
			since := n.LossSince
			p.LossSince = &since
		}
	}
	return p
}

func (p NoticePayload) validate() error {
	if p.ID == "" {
		return errors.New("no id")
	}
	if p.Direction != NoticeFailover && p.Direction != NoticeFailback {
		return fmt.Errorf("direction %q is neither %s nor %s", p.Direction, NoticeFailover, NoticeFailback)
	}
	if p.From == "" || p.To == "" || p.From == p.To {
		return fmt.Errorf("regions from %q to %q", p.From, p.To)
	}
	if p.Message == "" {
		return errors.New("no message for customers")
	}
	if p.ExpectedLossServiceS != nil && *p.ExpectedLossServiceS < 0 {
		return fmt.Errorf("negative expected loss %gs", *p.ExpectedLossServiceS)
	}
	return nil
}

// NotificationSink is the customers' side of the notices: an HTTP server
// on loopback that takes POST NoticePath and records every notice it
// accepts as history.EvCustomerNotified. Down makes it answer 503 to
// every notice and record nothing (the notification-sink-down defect).
type NotificationSink struct {
	rec  *history.Recorder
	down bool
	url  string
	srv  *http.Server
	done chan struct{} // closed when Serve returned

	requests atomic.Int64 // notices posted to it, taken or not

	mu   sync.Mutex
	seen map[string]bool // notice ids recorded

	closeOnce sync.Once
	closeErr  error
}

// StartNotificationSink listens on 127.0.0.1 (a port of the system's
// choosing) and serves until Close. down: see NotificationSink.
func StartNotificationSink(rec *history.Recorder, down bool) (*NotificationSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("notification sink: listen on loopback: %w", err)
	}
	s := &NotificationSink{rec: rec, down: down, url: "http://" + ln.Addr().String() + NoticePath,
		done: make(chan struct{}), seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc(NoticePath, s.take)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: NoticeAttemptTimeout}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// Requests is how many notices were posted to the sink, whatever it
// answered.
func (s *NotificationSink) Requests() int { return int(s.requests.Load()) }

// URL is where notices are posted.
func (s *NotificationSink) URL() string { return s.url }

// Close stops the sink: it waits (a bounded time) for notices being taken,
// then closes what is left, and returns once the server has stopped.
// Closing twice is harmless.
func (s *NotificationSink) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), NoticeAttemptTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = errors.Join(err, s.srv.Close())
		}
		<-s.done
	})
	return s.closeErr
}

// take is the sink's handler: a POSTed notice, checked and recorded.
func (s *NotificationSink) take(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a notice", http.StatusMethodNotAllowed)
		return
	}
	s.requests.Add(1)
	if s.down {
		http.Error(w, "notification service unavailable", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNoticeBytes+1))
	if err != nil {
		http.Error(w, "read notice: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxNoticeBytes {
		http.Error(w, "notice too large", http.StatusRequestEntityTooLarge)
		return
	}
	var p NoticePayload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		http.Error(w, "not a notice: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := p.validate(); err != nil {
		http.Error(w, "not a notice: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock() // one record per id, in the order received
	if s.seen[p.ID] {
		w.WriteHeader(http.StatusOK) // a retry of a notice already received
		return
	}
	s.seen[p.ID] = true
	v := map[string]any{"direction": p.Direction, "from": p.From, "to": p.To, "message": p.Message,
		"id": p.ID, "received_by": assertions.SinkReceivedBy, "sent_at": p.SentAt}
	if p.SignOff {
		v["sign_off"] = true
	}
	if p.ExpectedLossServiceS != nil {
		v["expected_loss_service_s"] = *p.ExpectedLossServiceS
	}
	if p.LossSince != nil {
		v["loss_since"] = *p.LossSince
	}
	s.rec.Event(history.EvCustomerNotified, v)
	w.WriteHeader(http.StatusAccepted)
}

// HTTPNotifier posts notices as JSON to URL, each attempt bounded by
// NoticeAttemptTimeout and a notice by NoticeAttempts attempts. A 2xx
// answer delivers the notice; a 5xx, 408, 429 or a transport error is
// tried again; any other answer is final.
type HTTPNotifier struct {
	URL string
	// Client nil: LoopbackClient, which connects to loopback addresses
	// only (with NoticeAttemptTimeout).
	Client *http.Client
}

// LoopbackClient is an HTTP client that connects only to loopback
// addresses, checked on the address actually dialled (after name
// resolution, so a name that resolves elsewhere later is refused too),
// and through no proxy: the blast radius of a drill's notices is the
// machine. Each request is bounded by timeout.
func LoopbackClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("refused to connect to %s: a drill's notices stay on loopback", address)
		}
		return nil
	}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext,
		MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second, DisableKeepAlives: true}}
}

var noticeSeq struct {
	sync.Mutex
	n int
}

// Notify posts n until it is delivered, refused, or out of attempts.
func (h HTTPNotifier) Notify(ctx context.Context, n Notice) error {
	client := h.Client
	if client == nil {
		client = LoopbackClient(NoticeAttemptTimeout)
	}
	noticeSeq.Lock()
	noticeSeq.n++
	seq := noticeSeq.n
	noticeSeq.Unlock()
	sent := time.Now()
	id := fmt.Sprintf("%s-%s-%s-%d-%d", n.Direction, n.From, n.To, sent.UnixNano(), seq)
	body, err := json.Marshal(n.Payload(id, sent))
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	backoff := NoticeRetryBackoff
	var last error
	for attempt := 1; attempt <= NoticeAttempts; attempt++ {
		retry, err := h.post(ctx, client, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == NoticeAttempts {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("post notice to %s: %w (after %v)", h.URL, ctx.Err(), last)
		case <-t.C:
		}
		backoff *= 2
	}
	return fmt.Errorf("post notice to %s: %w", h.URL, last)
}

// post makes one attempt; retry tells whether another may succeed.
func (h HTTPNotifier) post(ctx context.Context, client *http.Client, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, err
	}
	return false, err
}

// startNotices starts the run's notification sink (down: the
// notification-sink-down defect) and records it. The caller closes it.
func startNotices(rec *history.Recorder, down bool, webhook string) (*NotificationSink, error) {
	sink, err := StartNotificationSink(rec, down)
	if err != nil {
		return nil, err
	}
	rec.Event(history.EvNotificationSink, map[string]any{"url": sink.URL(), "down": down, "webhook": webhook != ""})
	if down {
		rec.Event(EvDefect, map[string]any{"defect": "notification-sink-down", "answers": http.StatusServiceUnavailable})
	}
	return sink, nil
}

// Use points the runbook's notices at the sink, and at webhook as well
// ("" = none).
func (s *NotificationSink) Use(rb *Runbook, webhook string) {
	rb.Notifier = HTTPNotifier{URL: s.URL()}
	if webhook != "" {
		rb.Webhook = HTTPNotifier{URL: webhook}
	}
}

// CheckNotifyURL tells whether u may receive a drill's notices besides
// the sink (the notify-url setting): an http URL whose host is, or
// resolves only to, loopback addresses. A drill never sends traffic off
// the machine.
func CheckNotifyURL(u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", p.Scheme)
	}
	host := p.Hostname()
	if host == "" {
		return fmt.Errorf("%q names no host", u)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("host %s is not a loopback address: a drill never sends notices off the machine", host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s resolves to no address", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("host %s resolves to %s, not a loopback address: a drill never sends notices off the machine", host, a.IP)
		}
	}
	return nil
}
