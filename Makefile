# Build, test and package faultline.
#
#   make build    the static binary that the image contains: bin/faultline
#   make test     the whole test suite, as CI runs it (./scripts/test)
#   make image    the container image (needs a Docker engine: our machines
#                 have none, so CI tests everything but this step)
#
# VERSION is recorded in the binary (faultline version, faultline_build_info,
# the faultline.dev/version annotation of faultline inject); by default it is
# `git describe`.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
BIN     ?= bin/faultline
IMAGE   ?= faultline:$(VERSION)
GO      ?= go
# Extra arguments for ./scripts/test, e.g. make test TEST_ARGS=-short.
TEST_ARGS ?=

LDFLAGS := -s -w -X github.com/faultline-dev/faultline/sidecar/buildinfo.Version=$(VERSION)

.PHONY: build test image

# CGO off: a static binary that runs on distroless/static (or scratch).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/faultline

test:
	./scripts/test $(TEST_ARGS)

image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .
