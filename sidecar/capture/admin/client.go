package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// Client reads captures from a running sidecar's admin API. It is a Source,
// so the CLI reads the API and a store on disk the same way. It is safe for
// concurrent use.
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:9901.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
}

// maxResponse bounds what the client reads of one answer.
const maxResponse = 64 << 20

// List calls GET /api/captures.
func (c *Client) List(ctx context.Context, q store.Query) ([]capture.Summary, error) {
	var r listResponse
	if err := c.get(ctx, "/api/captures?"+q.Values().Encode(), &r); err != nil {
		return nil, err
	}
	return r.Captures, nil
}

// Get calls GET /api/captures/{id}; an unknown ID is store.ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (*capture.Capture, error) {
	var cp capture.Capture
	if err := c.get(ctx, "/api/captures/"+url.PathEscape(id), &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	base := strings.TrimSuffix(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // *url.Error repeats the URL
		}
		return fmt.Errorf("admin API at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", base, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("admin API at %s: bad answer: %w", base, err)
		}
		return nil
	}
	var e apiError
	json.Unmarshal(body, &e)
	switch {
	case resp.StatusCode == http.StatusNotFound && e.Param == "id":
		return store.ErrNotFound
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("admin API at %s: the token is missing or wrong", base)
	case e.Error != "":
		return fmt.Errorf("admin API at %s: %s (%s)", base, e.Error, resp.Status)
	}
	return fmt.Errorf("admin API at %s: %s", base, resp.Status)
}
