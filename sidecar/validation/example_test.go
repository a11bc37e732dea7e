package validation_test

import (
	"fmt"

	"github.com/faultline-dev/faultline/sidecar/validation"
)

func Example() {
	// The body FastAPI 0.92 sends for POST /items/ with a bad price and a
	// missing name in the second of a list of items.
	body := []byte(`{"detail":[
		{"loc":["body","price"],"msg":"value is not a valid float","type":"type_error.float"},
		{"loc":["body","items",1,"name"],"msg":"field required","type":"value_error.missing"}]}`)
	limit := validation.NewLimiter(100, 50)
	n, err := validation.Parse(body, func(location, errType string) {
		// Here the sidecar increments faultline_validation_errors_total.
		fmt.Println(limit.Location(location), limit.Type(errType))
	})
	fmt.Println(n, err)

	// HTTPException(422, "Cart is empty")
	n, err = validation.Parse([]byte(`{"detail":"Cart is empty"}`), func(location, errType string) {
		fmt.Println(location, errType)
	})
	fmt.Println(n, err)
	// Output:
	// body.price type_error.float
	// body.items.*.name value_error.missing
	// 2 <nil>
	// unknown unknown
	// 1 <nil>
}
