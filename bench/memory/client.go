package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// conn is one raw HTTP/1.1 keep-alive client connection.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, br: bufio.NewReader(c)}, nil
}

// getRequest is a GET of path, as a client keeping its connection would send it.
func getRequest(host, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: faultline-bench-memory\r\nAccept: application/json\r\n\r\n")
}

// postRequest is a POST of a JSON body to path.
func postRequest(host, path, body string) []byte {
	return []byte("POST " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: faultline-bench-memory\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// do sends one request, reads the whole response and returns its status.
// A response that closes the connection is an error: every measurement here
// needs the connection kept.
func (c *conn) do(req []byte) (int, error) {
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.Close {
		return resp.StatusCode, errors.New("server closed the connection")
	}
	return resp.StatusCode, nil
}

func (c *conn) close() { c.c.Close() }

// openConns dials n connections to addr and sends one request on each,
// workers at a time, and returns them all open.
func openConns(ctx context.Context, addr string, n, workers int, req []byte) ([]*conn, error) {
	conns := make([]*conn, n)
	idx := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				c, err := dial(ctx, addr)
				if err == nil {
					conns[i] = c
					var code int
					if code, err = c.do(req); err == nil && code != http.StatusOK {
						err = fmt.Errorf("status %d", code)
					}
				}
				if err != nil {
					errc <- fmt.Errorf("connection %d: %w", i+1, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case idx <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		closeConns(conns)
		return nil, err
	}
	return conns, nil
}

func closeConns(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// burst sends req on every connection at once (released together) and
// waits for every response.
func burst(conns []*conn, req []byte) error {
	start := make(chan struct{})
	errs := make([]error, len(conns))
	var ready, wg sync.WaitGroup
	for i, c := range conns {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			code, err := c.do(req)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d", code)
			}
			errs[i] = err
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// scrape fetches a Prometheus text exposition.
func scrape(ctx context.Context, metricsURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", metricsURL, resp.StatusCode)
	}
	return string(b), nil
}

// metricSum adds up the samples of metric name in a Prometheus text
// exposition whose labels contain every one of labels (`reason="evicted"`).
func metricSum(text, name string, labels ...string) float64 {
	var sum float64
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		lbl := ""
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(lbl, l) {
				match = false
				break
			}
		}
		f := strings.Fields(rest)
		if !match || len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// countCaptures pages through the admin API's capture list and counts the
// captures the store holds.
func countCaptures(ctx context.Context, adminURL string) (int, error) {
	n, before := 0, ""
	for {
		q := url.Values{"limit": {"1000"}}
		if before != "" {
			q.Set("before", before)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/api/captures?"+q.Encode(), nil)
		if err != nil {
			return n, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return n, err
		}
		var page struct {
			Captures []json.RawMessage `json:"captures"`
			Next     string            `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return n, fmt.Errorf("admin API: status %d", resp.StatusCode)
		}
		if err != nil {
			return n, fmt.Errorf("admin API: %w", err)
		}
		n += len(page.Captures)
		if page.Next == "" || len(page.Captures) == 0 {
			return n, nil
		}
		before = page.Next
	}
}
