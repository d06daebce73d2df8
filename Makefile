# authgate — see README.md. `make help` lists the targets.

GO            ?= go
BIN           ?= bin/authgate
CACHE_DIR     ?= $(HOME)/.cache/authgate
CADDY_VERSION ?= v2.11.9
CADDY         ?= $(CACHE_DIR)/caddy-$(CADDY_VERSION)/caddy
FUZZTIME      ?= 10s
GOTESTFLAGS   ?=

# Tests that start real proxies find them through these.
export AUTHGATE_TEST_CADDY := $(CADDY)

.PHONY: help build run test test-deps bench bench-http fuzz lint clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS       := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build: ## build bin/authgate, stamped with git describe and the commit
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/authgate

run: build ## build and start the gate on its defaults (in memory, :8080)
	AUTHGATE_COOKIE_SECURE=$${AUTHGATE_COOKIE_SECURE:-false} ./$(BIN)

test: test-deps ## install what the tests need if missing, then run every test with -race
	$(GO) test -race -count=1 -timeout 25m $(GOTESTFLAGS) ./...

test-deps: ## install nginx, redis-server, chromium (apt-get) and Caddy $(CADDY_VERSION) (go install) when missing
	@missing=""; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "test-deps: installing$$missing with apt-get"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| { echo "test-deps: FAILED to install$$missing with apt-get; the tests need them" >&2; exit 1; }; \
	fi
	@if [ ! -x "$(CADDY)" ]; then \
		echo "test-deps: building Caddy $(CADDY_VERSION) into $(dir $(CADDY)) (a few minutes, once)"; \
		mkdir -p "$(dir $(CADDY))" && GOBIN="$(dir $(CADDY))" $(GO) install github.com/caddyserver/caddy/v2/cmd/caddy@$(CADDY_VERSION) \
			|| { echo "test-deps: FAILED to build Caddy $(CADDY_VERSION)" >&2; exit 1; }; \
	fi

BENCHCOUNT    ?= 6

bench: test-deps ## in-process benchmarks, BENCHCOUNT runs each (compare runs with benchstat)
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./verify/ ./accounts/... ./cmd/authgate/

bench-http: test-deps ## load harness against the real binary: authgate vs bare Echo with wrk (LOAD_DURATION, LOAD_ROUNDS, LOAD_SOAK, LOAD_FLOOD, LOAD_NGINX)
	$(GO) test -run '^$$' -tags loadharness -bench '^BenchmarkHTTPLoad$$' -benchtime 1x -timeout 60m -v ./cmd/authgate/

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint: ## gofmt check, go vet, staticcheck when installed
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags loadharness ./cmd/authgate/
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi

clean: ## remove build output
	rm -rf bin
