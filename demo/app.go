// Package demo is the sample app of `faultline demo`: it answers the way a
// FastAPI service does (JSON bodies, pydantic-style 422 details, a bare 500,
// /openapi.json) so the sidecar can be tried without Python, and a traffic
// generator that exercises every kind of answer.
package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Token is the bearer token /secure accepts.
const Token = "demo-token"

// App returns the sample app's handler.
func App() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, openAPI)
	})
	mux.HandleFunc("GET /items/{item_id}", getItem)
	mux.HandleFunc("POST /items", createItem)
	mux.HandleFunc("GET /secure", secure)
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		// uvicorn's answer to an unhandled exception.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "Internal Server Error")
	})
	mux.HandleFunc("GET /slow", slow)
	mux.HandleFunc("GET /events", events)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// validationError is one pydantic v1 error item, as FastAPI 0.92 sends it.
type validationError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

func unprocessable(w http.ResponseWriter, errs []validationError) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

func getItem(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("item_id"))
	if err != nil {
		unprocessable(w, []validationError{{Loc: []any{"path", "item_id"}, Msg: "value is not a valid integer", Type: "type_error.integer"}})
		return
	}
	if id > 1000 {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Item not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"item_id": id, "name": fmt.Sprintf("item %d", id), "price": 9.5})
}

func createItem(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		unprocessable(w, []validationError{{Loc: []any{"body"}, Msg: "value is not a valid dict", Type: "type_error.dict"}})
		return
	}
	var errs []validationError
	if name, ok := body["name"]; !ok {
		errs = append(errs, validationError{Loc: []any{"body", "name"}, Msg: "field required", Type: "value_error.missing"})
	} else if _, ok := name.(string); !ok {
		errs = append(errs, validationError{Loc: []any{"body", "name"}, Msg: "str type expected", Type: "type_error.str"})
	}
	price, ok := body["price"]
	switch p, isNum := price.(float64); {
	case !ok:
		errs = append(errs, validationError{Loc: []any{"body", "price"}, Msg: "field required", Type: "value_error.missing"})
	case !isNum || math.IsNaN(p):
		errs = append(errs, validationError{Loc: []any{"body", "price"}, Msg: "value is not a valid float", Type: "type_error.float"})
	case p <= 0:
		errs = append(errs, validationError{Loc: []any{"body", "price"}, Msg: "ensure this value is greater than 0", Type: "value_error.number.not_gt"})
	}
	if len(errs) > 0 {
		unprocessable(w, errs)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func secure(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	switch auth {
	case "":
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Not authenticated"})
	case "Bearer " + Token:
		writeJSON(w, http.StatusOK, map[string]any{"user": "demo"})
	default:
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Invalid authentication credentials"})
	}
}

func slow(w http.ResponseWriter, r *http.Request) {
	secs, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
	if err != nil || secs < 0 || secs > 30 {
		secs = 1.5
	}
	select {
	case <-time.After(time.Duration(secs * float64(time.Second))):
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"slept": secs})
}

// events streams server-sent events, as a StreamingResponse would.
func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\": %d}\n\n", i, i)
		if rc.Flush() != nil {
			return
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

// openAPI is the document FastAPI would serve for these routes.
var openAPI = map[string]any{
	"openapi": "3.0.2",
	"info":    map[string]any{"title": "faultline demo", "version": "0.1.0"},
	"paths": map[string]any{
		"/items/{item_id}": map[string]any{"get": op("Read Item")},
		"/items":           map[string]any{"post": op("Create Item")},
		"/secure":          map[string]any{"get": op("Secure")},
		"/boom":            map[string]any{"get": op("Boom")},
		"/slow":            map[string]any{"get": op("Slow")},
		"/events":          map[string]any{"get": op("Events")},
	},
}

func op(summary string) map[string]any {
	return map[string]any{
		"summary":   summary,
		"responses": map[string]any{"200": map[string]any{"description": "Successful Response"}},
	}
}
