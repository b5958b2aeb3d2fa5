# Refract: make run (set up, build, start a dev node with a sample) and
# make test (set up, then the whole suite). Both work on a fresh Debian 12.

SHELL    := /bin/bash
GO       ?= go
BIN      := bin/refract
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Debian packages the build and tests need.
# Fonts: DejaVu is the fallback for text layers; Liberation stands in for Arial, Times and Courier.
APT_PKGS := libvips-dev pkg-config fonts-dejavu-core fonts-liberation2 nats-server
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# glibc arenas fragment badly under libvips' threads; two is the usual cure.
export MALLOC_ARENA_MAX ?= 2
export CGO_ENABLED := 1

GOFILES   = $(shell git ls-files '*.go' | grep -v '^origin/vips/')
FUZZTIME ?= 60s

# A real S3 server for the tests (origin/store/s3/s3test), built once per
# machine outside the repo. The versions must match s3test's (a test there
# checks); so must the default paths, for go test run by hand.
# REFRACT_S3_SERVER=versitygw switches to the lighter fallback server.
S3_BIN_DIR        ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/refract/bin
MINIO_VERSION     := v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW_VERSION := v1.8.0
MINIO_BIN         := $(S3_BIN_DIR)/minio-$(MINIO_VERSION)
VERSITYGW_BIN     := $(S3_BIN_DIR)/versitygw-$(VERSITYGW_VERSION)
REFRACT_S3_SERVER ?= minio
# The server make test builds: none when REFRACT_MINIO / REFRACT_VERSITYGW
# already point at a binary. Otherwise the tests are pointed at the ones
# built here.
S3_SERVER         := $(if $(filter versitygw,$(REFRACT_S3_SERVER)),$(if $(REFRACT_VERSITYGW),,versitygw),$(if $(REFRACT_MINIO),,minio))
REFRACT_MINIO     ?= $(MINIO_BIN)
REFRACT_VERSITYGW ?= $(VERSITYGW_BIN)
export REFRACT_S3_SERVER REFRACT_MINIO REFRACT_VERSITYGW

.PHONY: all setup build run test vet fmt-check bench bench-go bench-tools bench-s3 bench-edge bench-purge fuzz generate clean help minio versitygw imgproxy

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup: ## install what is missing (apt packages, Go module downloads); idempotent
	@command -v $(GO) >/dev/null || { echo "Go is required (1.26+): https://go.dev/dl/" >&2; exit 1; }
	@missing=""; for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@pkg-config --exists vips || { echo "libvips not found by pkg-config" >&2; exit 1; }
	@$(GO) mod download

build: setup ## build bin/refract
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/refract

run: build ## start refract dev on the embedded defaults, upload a sample and print URLs
	./$(BIN) dev --demo

# The generated bindings are not ours to fix, so they are not vetted; and
# vet's unsafeptr check also reports them through their importers (their
# cgo glue uses reflect.SliceHeader), so that one check is off. Refract's
# own unsafe use is one unsafe.String in edge/delivery.
vet:
	$(GO) vet -unsafeptr=false $$($(GO) list ./... | grep -v '/origin/vips$$')

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# REFRACT_REQUIRE_S3=1 turns a missing S3 server binary from a skip into a
# failure, so the suite never passes without its S3 tests; likewise NATS.
# REFRACT_BIN is the binary deploy/local's test runs the fleet with.
test: setup fmt-check vet build $(S3_SERVER) ## the whole suite with the race detector, then the allocation checks without it
	REFRACT_REQUIRE_S3=1 REFRACT_REQUIRE_NATS=1 REFRACT_BIN=$(abspath $(BIN)) $(GO) test -race -count=1 -timeout 20m ./...
	REFRACT_REQUIRE_S3=1 $(GO) test -count=1 -run 'Alloc|HitPath' ./edge/... ./shared/...

minio: $(MINIO_BIN) ## build the MinIO test server once per machine (~4 min cold)
versitygw: $(VERSITYGW_BIN) ## build the versitygw test server (REFRACT_S3_SERVER=versitygw)

$(MINIO_BIN):
	$(call install-s3-server,github.com/minio/minio@$(MINIO_VERSION),minio)
$(VERSITYGW_BIN):
	$(call install-s3-server,github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION),versitygw)

# $(call install-s3-server,module@version,binary): go install into a
# temporary directory beside the target, then rename into place, so an
# interrupted build never leaves a half-written binary.
define install-s3-server
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d "$(@D)/.build-XXXXXX") && trap 'rm -rf "$$tmp"' EXIT && trap 'exit 130' INT TERM && \
	echo "building $(1) into $@ (once per machine)" && \
	GOBIN="$$tmp" $(GO) install -trimpath -ldflags='-s -w' $(1) && \
	mv -f "$$tmp/$(2)" $@
endef

# imgproxy, the render anchor, built once per machine from the module cache
# (its go.mod has a replace directive, so `go install` cannot build it),
# into a temporary directory beside the target and renamed into place.
IMGPROXY_VERSION := v3.31.4
IMGPROXY_BIN     := $(S3_BIN_DIR)/imgproxy-$(IMGPROXY_VERSION)

imgproxy: $(IMGPROXY_BIN) ## build imgproxy (the render anchor) once per machine (~5 min cold)

$(IMGPROXY_BIN):
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d "$(@D)/.build-XXXXXX") && trap 'rm -rf "$$tmp"' EXIT && trap 'exit 130' INT TERM && \
	echo "building imgproxy $(IMGPROXY_VERSION) into $@ (once per machine)" && \
	dir=$$($(GO) mod download -json github.com/imgproxy/imgproxy/v3@$(IMGPROXY_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	[ -n "$$dir" ] && cd "$$dir" && GOFLAGS=-mod=mod $(GO) build -trimpath -ldflags='-s -w' -o "$$tmp/imgproxy" . && \
	mv -f "$$tmp/imgproxy" $@

# nginx and wrk for the edge-vs-nginx runs (nginx-light only when no nginx
# is installed; the benchmarks run their own nginx from a temporary prefix
# on 127.0.0.1 and never touch the system's). perf, for the profiles, is
# used when present.
bench-tools:
	@missing=""; { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null || missing="nginx-light"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Needs 2 CPUs; about 15–20 minutes. Renders against imgproxy and against
# the in-process ceiling, coalescing, RSS with a 256 MiB RAM tier, CPU
# profiles of missed targets, and the edge against nginx (edgebench, shorter
# runs): one report, bench/results/<date>-<host>.md. BENCH_FLAGS passes
# flags through (bin/renderbench -h), EDGEBENCH_FLAGS replaces the edge part's.
EDGEBENCH_FLAGS_BENCH ?= -fill=false -rounds 2 -duration 5s -warmup 1s
bench: build bench-tools $(IMGPROXY_BIN) $(S3_SERVER) ## renders vs imgproxy, coalescing, RSS, purge propagation, edge vs nginx: one report in bench/results/ (~20 min)
	$(GO) build -o bin/edgebench ./bench/edge/cmd/edgebench
	$(GO) build -o bin/renderbench ./bench/render/cmd/renderbench
	./bin/renderbench -refract $(BIN) -imgproxy $(IMGPROXY_BIN) -edgebench bin/edgebench -version $(VERSION) \
		-edge-flags "$(or $(EDGEBENCH_FLAGS),$(EDGEBENCH_FLAGS_BENCH))" $(BENCH_FLAGS)

bench-go: setup ## the in-process Go benchmarks (edge hit path, render, transform); see bench/README.md
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./edge/delivery ./origin/render ./shared/transform

bench-s3: setup $(S3_SERVER) ## upload throughput and derivative lookups on MinIO, against raw S3 calls
	REFRACT_REQUIRE_S3=1 $(GO) test -run '^$$' -bench 'S3Upload|S3Lookup' -benchtime 60x -count 3 ./cmd/refract

# About 15 s: 200 purges on the loopback fleet (3 edges, 2 origins, MinIO,
# NATS), from the purge API call until all 3 edges miss.
bench-purge: setup $(S3_SERVER) ## purge propagation p50/p99 over 200 purges on the loopback fleet
	REFRACT_REQUIRE_S3=1 REFRACT_REQUIRE_NATS=1 $(GO) test -run '^$$' -bench PurgePropagation -benchtime 1x -count 3 ./cmd/refract

# Needs 2 CPUs; about 10 minutes. Installs nginx and wrk if they are missing
# (nginx-light is only installed when no nginx is; the benchmark runs its own
# nginx from a temporary prefix on 127.0.0.1 and never touches the system's).
# EDGEBENCH_FLAGS passes flags through (bin/edgebench -h lists them).
bench-edge: build bench-tools ## the edge's RAM hits against nginx (wrk, CPU pinning) and RSS with a full RAM tier; report in bench/results/
	$(GO) build -o bin/edgebench ./bench/edge/cmd/edgebench
	./bin/edgebench -refract $(BIN) -version $(VERSION) $(EDGEBENCH_FLAGS)

# Every fuzz target, as <package dir>:<target>.
FUZZ_TARGETS := shared/transform:FuzzParse shared/urlapi:FuzzParse shared/safehttp:FuzzCheckURL \
	shared/safehttp:FuzzForbiddenForms origin/chunk:FuzzParseContentRange origin/upload:FuzzParseForm \
	shared/token:FuzzParse edge/referrer:FuzzAllowed edge/disk:FuzzDecodeHeader

fuzz: setup ## run every fuzz target for FUZZTIME (default 60s) each, and keep what it found in testdata
	@for pt in $(FUZZ_TARGETS); do \
		p=$${pt%%:*}; f=$${pt##*:}; \
		$(GO) test ./$$p -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		mkdir -p $$p/testdata/fuzz/$$f; \
		cp -n "$$($(GO) env GOCACHE)"/fuzz/github.com/refract-cdn/refract/$$p/$$f/* $$p/testdata/fuzz/$$f/ 2>/dev/null || true; \
	done

generate: setup ## regenerate the libvips bindings from origin/vips/templates
	$(GO) generate ./origin/vips

clean:
	rm -rf bin
