package route_test

import (
	"fmt"

	"github.com/faultline-dev/faultline/sidecar/route"
)

func Example() {
	tab, err := route.Compile([]string{
		"/items/",
		"/items/{item_id}",
		"/items/latest",
		"/files/{file_path:path}",
	})
	if err != nil {
		panic(err)
	}
	m := route.NewMatcher(route.Options{MaxRoutes: 2})
	m.SetTemplates(tab)
	for _, p := range []string{
		"/items/42",
		"/items/latest",
		"/items",
		"/files/docs/a.pdf",
		"/orders/42/lines/7",
		"/orders/43/lines/1",
		"/users/123e4567-e89b-12d3-a456-426614174000",
		"/wp-login.php",
	} {
		fmt.Printf("%-46s %s\n", p, m.Match(p))
	}
	fmt.Println("overflows:", m.Overflows())
	// Output:
	// /items/42                                      /items/{item_id}
	// /items/latest                                  /items/latest
	// /items                                         /items/
	// /files/docs/a.pdf                              /files/{file_path:path}
	// /orders/42/lines/7                             /orders/{id}/lines/{id}
	// /orders/43/lines/1                             /orders/{id}/lines/{id}
	// /users/123e4567-e89b-12d3-a456-426614174000    /users/{uuid}
	// /wp-login.php                                  __other__
	// overflows: 1
}

func ExampleParseOpenAPI() {
	doc := []byte(`{"openapi":"3.0.2","info":{"title":"Shop","version":"0.1.0"},
		"servers":[{"url":"/api"}],
		"paths":{"/items/{item_id}":{},"/files/{file_path}":{}}}`)
	templates, err := route.ParseOpenAPI(doc)
	if err != nil {
		panic(err)
	}
	fmt.Println(templates)
	// Output:
	// [/api/files/{file_path} /api/items/{item_id} /files/{file_path} /items/{item_id}]
}
