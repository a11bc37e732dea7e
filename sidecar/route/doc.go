// Package route turns request paths into bounded route labels.
//
// A route label is what the metrics, spans and access log call "route": a
// template such as "/items/{item_id}", never a raw path. Templates come from
// the upstream app's OpenAPI document (ParseOpenAPI, Learner) or from a
// routes file (LoadFile); Compile turns them into a Table that matches paths
// the way FastAPI (Starlette) routes them. A Matcher puts a Table behind an
// atomic pointer and, for paths that match no template, falls back to a
// heuristic that collapses id-like segments and caps the number of distinct
// labels it ever hands out, so that a scan of random 404 paths cannot blow
// up the cardinality of a metric.
package route
