# syntax=docker/dockerfile:1
# The faultline image: the static binary of `make build` on distroless,
# run as a non-root user.
#
#   make image IMAGE=registry.example.com/faultline:v1.2.3 VERSION=v1.2.3
#
# deploy/example_test.go builds the binary from the same context (this
# directory less .dockerignore) with the same command; only `docker build`
# itself is left untested, as our machines run no Docker engine.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build VERSION=${VERSION} BIN=/out/faultline

# distroless/static: CA certificates (for an HTTPS OTLP endpoint), tzdata,
# /etc/passwd with the nonroot user (65532), and nothing else: no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/faultline /usr/local/bin/faultline
USER 65532:65532
# --listen and --metrics-listen; the admin page stays on 127.0.0.1:9901.
EXPOSE 8080 9464
ENTRYPOINT ["faultline"]
CMD ["run"]
