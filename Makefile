# Chorus — the two commands a new user needs are `make demo` and `make test`.
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/chorus

.PHONY: all build demo test test-short bench lint fuzz clean image

all: build

build:
	$(GO) build -o $(BIN) ./cmd/chorus

# Scores the embedded demo feedback end to end; output in ./chorus-out/.
demo:
	$(GO) run ./cmd/chorus demo

# Every test, with the race detector. With CI=true a missing test service
# is a failure, never a skip.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short -count=1 ./...

# The performance targets (README.md § Performance), reported (never asserted) in bench/REPORT.md.
bench:
	$(GO) run ./cmd/chorus bench --report bench/REPORT.md
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./worker/... ./cmd/chorus/tools/... | tee bench/micro.txt

lint:
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./worker/job
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./worker/config

clean:
	rm -rf bin chorus-out

# The container image (deploy/Dockerfile). Needs a running Docker engine;
# where none runs, say so instead of failing with a socket error.
image:
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine is running here (docker info failed); build where one runs, e.g. docker build -f deploy/Dockerfile -t chorus:dev ."; exit 1; }
	docker build -f deploy/Dockerfile -t chorus:dev .
