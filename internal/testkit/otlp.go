package testkit

import (
	"compress/gzip"
	"io"
	"net/http"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// ReadOTLP decodes the OTLP/HTTP protobuf export request r carries, as a
// collector does, gunzipping it when the client compressed it (gzipped
// says so). On an error it has answered 400 on w, and ok is false.
func ReadOTLP(w http.ResponseWriter, r *http.Request) (req ptraceotlp.ExportRequest, gzipped, ok bool) {
	var body io.Reader = r.Body
	gzipped = r.Header.Get("Content-Encoding") == "gzip"
	if gzipped {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return req, gzipped, false
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return req, gzipped, false
	}
	req = ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(data); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return req, gzipped, false
	}
	return req, gzipped, true
}
