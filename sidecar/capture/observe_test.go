package capture

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

func failingExchange() *exchange.Exchange {
	r := &http.Request{Method: "POST", RequestURI: "/items?debug=1", URL: &url.URL{Path: "/items", RawQuery: "debug=1"},
		Host: "api.test", Proto: "HTTP/1.1", RemoteAddr: "10.1.2.3:4567",
		Header: http.Header{"Content-Type": {"application/json"}, "Cookie": {"theme=dark; session=abc"}, "X-B": {"2"}, "X-A": {"1"}}}
	return &exchange.Exchange{
		Start: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Duration: 2500 * time.Microsecond,
		Request: r, Route: "/items", Status: 422, TraceID: "abc",
		ResponseHeader: http.Header{"Content-Type": {"application/json"}},
		BytesIn:        11, BytesOut: 100,
		RequestBody:  exchange.Tap{Armed: true, Data: []byte(`{"price":1}`)},
		ResponseBody: exchange.Tap{Armed: true, Data: []byte(`{"detail":[`), Truncated: true},
	}
}

func TestFromExchange(t *testing.T) {
	c := FromExchange(failingExchange(), true)
	if !ValidID(c.ID) || c.Route != "/items" || c.TraceID != "abc" || c.DurationMS != 2.5 || c.ClientAddr != "10.1.2.3" {
		t.Errorf("capture head %+v", c)
	}
	if c.Request.Method != "POST" || c.Request.URL != "/items?debug=1" || c.Request.Host != "api.test" || c.Request.Scheme != "http" {
		t.Errorf("request %+v", c.Request)
	}
	if len(c.Request.Headers) != 4 || c.Request.Headers[0].Name != "Content-Type" || c.Request.Headers[2].Name != "X-A" {
		t.Errorf("headers not sorted by name: %+v", c.Request.Headers)
	}
	if len(c.Request.Cookies) != 2 || c.Request.Cookies[1] != (Field{"session", "abc"}) {
		t.Errorf("cookies %+v", c.Request.Cookies)
	}
	if c.Request.Body.Text != `{"price":1}` || c.Request.Body.Truncated || c.Request.Body.Size != 11 || c.Request.Body.ContentType != "application/json" {
		t.Errorf("request body %+v", c.Request.Body)
	}
	if c.Response.Status != 422 || c.Response.Body.Text != `{"detail":[` || !c.Response.Body.Truncated || c.Response.Body.Size != 100 {
		t.Errorf("response %+v", c.Response)
	}
}

func TestFromExchangeBodies(t *testing.T) {
	x := failingExchange()
	if c := FromExchange(x, false); c.Request.Body.Text != "" || c.Request.Body.Size != 11 || !c.Request.Body.Truncated {
		t.Errorf("bodies off: %+v", c.Request.Body)
	}
	x.RequestBody.Data = []byte{0xff, 0x00, 0x01}
	if c := FromExchange(x, true); !c.Request.Body.Base64 || c.Request.Body.Text != "/wAB" {
		t.Errorf("binary body %+v", c.Request.Body)
	}
	// A cut in the middle of a character is not binary.
	x.RequestBody = exchange.Tap{Armed: true, Data: []byte("prix: 12 €")[:11], Truncated: true}
	if c := FromExchange(x, true); c.Request.Body.Base64 || c.Request.Body.Text != "prix: 12 " {
		t.Errorf("cut UTF-8 body %+v", c.Request.Body)
	}
}

func TestObserverDecides(t *testing.T) {
	var got []*Capture
	o := &Observer{Capture: func(s int) bool { return s == 422 || s >= 500 }, Bodies: true,
		Offer: func(c *Capture) bool { got = append(got, c); return true }}
	for _, tc := range []struct {
		status   int
		upgraded bool
		want     bool
	}{{422, false, true}, {200, false, false}, {503, false, true}, {exchange.StatusClientClosed, false, false}, {422, true, false}} {
		got = nil
		x := failingExchange()
		x.Status, x.Upgraded = tc.status, tc.upgraded
		o.End(x)
		if (len(got) == 1) != tc.want {
			t.Errorf("status %d upgraded %v: captured %d", tc.status, tc.upgraded, len(got))
		}
	}
}
