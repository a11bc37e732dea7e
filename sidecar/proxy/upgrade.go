package proxy

import (
	"io"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// upgrade completes a protocol switch (WebSocket): it sends the 101 to the
// client, then copies bytes both ways until either side closes. Upgraded
// streams are counted but never tapped.
func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, resp *http.Response) {
	x.Status = resp.StatusCode
	x.Upgraded = true
	backend, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		h.sidecarError(w, x, "upstream switched protocols without a writable body")
		return
	}
	defer backend.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.sidecarError(w, x, "cannot take over the client connection: "+err.Error())
		return
	}
	defer conn.Close()
	// The write deadline of the request must not cut the stream.
	_ = conn.SetDeadline(time.Time{})
	copyHeader(w.Header(), resp.Header)
	x.ResponseHeader = w.Header()
	res := *resp
	res.Header = w.Header()
	res.Body = nil
	if err := res.Write(brw); err != nil {
		x.Err = err
		return
	}
	if err := brw.Flush(); err != nil {
		x.Err = err
		return
	}
	// Either direction ending ends both: the deferred Closes unblock the
	// other copy, which then returns on its own.
	errc := make(chan error, 2)
	go func() {
		// Bytes the client sent after its request head are in brw's buffer.
		_, err := io.Copy(backend, brw)
		errc <- err
	}()
	go func() {
		_, err := io.Copy(conn, backend)
		errc <- err
	}()
	<-errc
}

// sidecarError answers 502 for a failure of the sidecar itself.
func (h *Handler) sidecarError(w http.ResponseWriter, x *exchange.Exchange, msg string) {
	h.log.Error("proxy failure", "route", x.Route, "err", msg)
	x.Status, x.Source = http.StatusBadGateway, metricnames.SourceSidecar
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	io.WriteString(w, "faultline: proxy error\n")
}
