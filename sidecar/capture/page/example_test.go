package page_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	"github.com/faultline-dev/faultline/sidecar/capture/page"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// The page is the admin API's Page: GET / serves it, /api/ the captures it
// shows, and trace ids link to Jaeger.
func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "faultline-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	h := admin.New(st, admin.Options{
		Page: page.Handler(st, page.Options{TraceURL: "http://jaeger:16686/trace/{trace_id}"}),
	})
	for _, path := range []string{"/", "/assets/app.js", "/api/captures"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost"+path, nil))
		fmt.Println(path, w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// / 200 text/html; charset=utf-8
	// /assets/app.js 200 text/javascript; charset=utf-8
	// /api/captures 200 application/json
}
