package validation

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

type item struct{ loc, typ string }

func parseAll(body string) ([]item, int, error) {
	var got []item
	n, err := Parse([]byte(body), func(loc, typ string) { got = append(got, item{loc, typ}) })
	return got, n, err
}

// pydanticV1 is what FastAPI 0.92 with pydantic 1.10 answers to
// POST /items/ with {"items": [{"name": "a"}], "price": "x"}.
const pydanticV1 = `{"detail":[{"loc":["body","items",0,"price"],"msg":"field required","type":"value_error.missing"},{"loc":["body","price"],"msg":"value is not a valid float","type":"type_error.float"},{"loc":["query","limit"],"msg":"ensure this value is less than or equal to 100","type":"value_error.number.not_le","ctx":{"limit_value":100}}]}`

// pydanticV2 is the same request answered by FastAPI with pydantic 2.
const pydanticV2 = `{"detail":[{"type":"missing","loc":["body","items",0,"price"],"msg":"Field required","input":{"name":"a"},"url":"https://errors.pydantic.dev/2.5/v/missing"},{"type":"float_parsing","loc":["body","price"],"msg":"Input should be a valid number, unable to parse string as a number","input":"x","url":"https://errors.pydantic.dev/2.5/v/float_parsing"},{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 100","input":"1000","ctx":{"le":100},"url":"https://errors.pydantic.dev/2.5/v/less_than_equal"}]}`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []item
	}{
		{"pydantic v1", pydanticV1, []item{
			{"body.items.*.price", "value_error.missing"},
			{"body.price", "type_error.float"},
			{"query.limit", "value_error.number.not_le"},
		}},
		{"pydantic v2", pydanticV2, []item{
			{"body.items.*.price", "missing"},
			{"body.price", "float_parsing"},
			{"query.limit", "less_than_equal"},
		}},
		{"pretty printed", "{\n  \"detail\" : [\n    {\n      \"loc\" : [ \"header\" , \"x-token\" ] ,\n      \"type\" : \"missing\"\n    }\n  ]\n}\n",
			[]item{{"header.x-token", "missing"}}},
		{"nested indexes", `{"detail":[{"loc":["body",3,"tags",12],"type":"string_type"}]}`,
			[]item{{"body.*.tags.*", "string_type"}}},
		{"non-string loc elements", `{"detail":[{"loc":["body",1.5,null,true,{"a":1},["x"]],"type":"t"}]}`,
			[]item{{"body.*.*.*.*.*", "t"}}},
		{"body-level error", `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`,
			[]item{{"body", "missing"}}},
		{"escaped strings", `{"detail":[{"loc":["body","pr\u00efce","a\"b"],"type":"val\u0075e_error"}]}`,
			[]item{{"body.prïce.a\"b", "value_error"}}},
		{"escaped keys", `{"d\u0065tail":[{"l\u006fc":["body","x"],"typ\u0065":"missing"}]}`,
			[]item{{"body.x", "missing"}}},
		{"custom type", `{"detail":[{"loc":["body","sku"],"type":"value_error.sku_format"}]}`,
			[]item{{"body.sku", "value_error.sku_format"}}},
		{"string detail", `{"detail":"Item price must be positive"}`, []item{{Unknown, Unknown}}},
		{"object detail", `{"detail":{"code":"E42","message":"bad"}}`, []item{{Unknown, Unknown}}},
		{"null detail", `{"detail":null}`, []item{{Unknown, Unknown}}},
		{"empty list", `{"detail":[]}`, nil},
		{"list of strings", `{"detail":["price is wrong","name too"]}`, []item{{Unknown, Unknown}, {Unknown, Unknown}}},
		{"missing loc and type", `{"detail":[{"msg":"x"}]}`, []item{{Unknown, Unknown}}},
		{"empty loc and type", `{"detail":[{"loc":[],"type":""}]}`, []item{{Unknown, Unknown}}},
		{"loc not a list", `{"detail":[{"loc":"body.price","type":5}]}`, []item{{Unknown, Unknown}}},
		{"other keys and nesting", `{"status":422,"meta":{"a":[{"detail":[{"loc":["no"]}]}]},"detail":[{"input":{"detail":[1,2,{"loc":["no"]}]},"loc":["body","ok"],"type":"t"}],"trace":"x"}`,
			[]item{{"body.ok", "t"}}},
		{"last detail counts", `{"detail":"first","detail":[{"loc":["body","b"],"type":"t"}]}`,
			[]item{{"body.b", "t"}}},
		{"last loc counts", `{"detail":[{"loc":["body","a"],"loc":["body","b"],"type":"t","type":"u"}]}`,
			[]item{{"body.b", "u"}}},
		{"keys are case sensitive", `{"Detail":[],"detail":[{"LOC":["x"],"loc":["y"],"type":"t"}]}`,
			[]item{{"y", "t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := parseAll(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(got) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Parse() = %d, %q; want %q", n, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		body string
		want error
	}{
		{``, ErrNotJSON},
		{`Unprocessable Entity`, ErrNotJSON},
		{`{"detail":[{"loc":["body"]}]`, ErrNotJSON},
		{`{"detail":[]} x`, ErrNotJSON},
		{`[{"loc":["body"]}]`, ErrNoDetail},
		{`"detail"`, ErrNoDetail},
		{`{}`, ErrNoDetail},
		{`{"error":"bad"}`, ErrNoDetail},
		{`{"errors":[{"loc":["body"]}]}`, ErrNoDetail},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, n, err := parseAll(tt.body)
			if !errors.Is(err, tt.want) || n != 0 || got != nil {
				t.Errorf("Parse(%q) = %d, %q, %v; want %v and no item", tt.body, n, got, err, tt.want)
			}
		})
	}
}

// TestParseFastAPI reads the bodies FastAPI 0.92 (pydantic 1.10) sent for
// the requests in ../route/testdata/fastapi/gen.py.
func TestParseFastAPI(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"v1-missing-and-type", "[{body.price type_error.float}]"},
		{"v1-nested-index", "[{body.items.*.price value_error.number.not_gt} {body.note value_error.any_str.max_length} {body.quantities.sku-1 type_error.integer}]"},
		{"v1-path-params", "[{path.user_id type_error.uuid} {path.order_id type_error.integer}]"},
		{"v1-query", "[{query.skip type_error.integer} {query.limit value_error.number.not_le}]"},
		{"v1-body-missing", "[{body value_error.missing}]"},
		// The index is a position in the body, not in a list; "*" all the same.
		{"v1-json-invalid", "[{body.* value_error.jsondecode}]"},
		{"v1-form-missing", "[{body.password value_error.missing}]"},
		{"string-detail", "[{unknown unknown}]"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile("testdata/" + tt.file + ".json")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := parseAll(string(body))
			if err != nil || fmt.Sprint(got) != tt.want {
				t.Errorf("Parse() = %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestParseDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	body := `{"detail":[{"input":` + deep + `,"loc":["body","x"],"type":"t"}]}`
	got, _, err := parseAll(body)
	if err != nil || fmt.Sprint(got) != "[{body.x t}]" {
		t.Errorf("Parse() = %q, %v", got, err)
	}
}

func TestParseAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for name, body := range map[string]string{"v1": pydanticV1, "v2": pydanticV2} {
		b := []byte(body)
		// One string per location; the types are common ones.
		n := testing.AllocsPerRun(100, func() {
			if _, err := Parse(b, func(string, string) {}); err != nil {
				t.Fatal(err)
			}
		})
		if n > 3 {
			t.Errorf("%s: Parse allocates %v times for 3 items, want at most 3", name, n)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for name, body := range map[string]string{"pydantic-v1": pydanticV1, "pydantic-v2": pydanticV2} {
		b.Run(name, func(b *testing.B) {
			body := []byte(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if n, err := Parse(body, func(string, string) {}); n != 3 || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}
