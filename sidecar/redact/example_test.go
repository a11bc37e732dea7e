package redact_test

import (
	"fmt"
	"log"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/redact"
)

func ExampleRedactor_Capture() {
	r, err := redact.New(redact.Config{Fields: []string{"pin"}})
	if err != nil {
		log.Fatal(err)
	}
	c := capture.Capture{
		Request: capture.Request{
			Method: "POST",
			URL:    "/login?next=%2Fhome&token=abc123",
			Headers: []capture.Field{
				{Name: "Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"},
				{Name: "Cookie", Value: "theme=dark; sessionid=9f8e7d6c"},
			},
			Body: capture.Body{
				ContentType: "application/json",
				Text:        `{"user":"ada","password":"hunter2","card":{"pin":1234}}`,
			},
		},
		Response: capture.Response{
			Status:  401,
			Headers: []capture.Field{{Name: "Set-Cookie", Value: "sessionid=; Max-Age=0; Path=/"}},
		},
	}
	r.Capture(&c)

	fmt.Println(c.Request.URL)
	for _, h := range c.Request.Headers {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}
	fmt.Println(c.Request.Body.Text)
	for _, x := range c.Redacted {
		fmt.Println(x.Where, x.Name)
	}
	// Output:
	// /login?next=%2Fhome&token=[REDACTED]
	// Authorization: Bearer [REDACTED]
	// Cookie: theme=dark; sessionid=[REDACTED]
	// {"user":"ada","password":"[REDACTED]","card":{"pin":"[REDACTED]"}}
	// request.query token
	// request.header Authorization
	// request.cookie sessionid
	// request.body password
	// request.body card.pin
}

func ExampleRedactor_URL() {
	r, _ := redact.New(redact.Config{FingerprintKey: []byte("a key of 16 bytes or more")})
	fmt.Println(r.URL("/items/42"))
	fmt.Println(r.URL("/reset?token=abc123&lang=en"))
	// Output:
	// /items/42
	// /reset?token=[REDACTED:hmac-sha256:d52376b4c937]&lang=en
}
