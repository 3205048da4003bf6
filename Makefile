# chaosrun — see README.md. Every target is safe to run twice.

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
CACHE_DIR ?= $(CURDIR)/.cache
KAFKA_LIBS = $(CACHE_DIR)/kafka/libs
BIN        = bin/chaosrun

export CHAOSRUN_KAFKA_LIBS ?= $(KAFKA_LIBS)
export PATH := $(GOBIN):$(PATH)

PROTOC_GEN_GO_VERSION      = v1.36.12
PROTOC_GEN_GO_GRPC_VERSION = v1.5.1
STATICCHECK_VERSION        = 2026.1

.PHONY: all deps deps-apt deps-go kafka-jars build run test test-short lint proto proto-check clean-cache

all: build

## deps: install everything the tests need (Debian packages, Go tools, Kafka jars)
deps: deps-apt deps-go kafka-jars

deps-apt:
	scripts/deps-apt.sh

deps-go:
	@test -x $(GOBIN)/protoc-gen-go && $(GOBIN)/protoc-gen-go --version | grep -q $(PROTOC_GEN_GO_VERSION) || \
		$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@test -x $(GOBIN)/protoc-gen-go-grpc && $(GOBIN)/protoc-gen-go-grpc --version | grep -q $(PROTOC_GEN_GO_GRPC_VERSION:v%=%) || \
		$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	$(GO) mod download

## kafka-jars: resolve the Apache Kafka broker jars through Maven into $(KAFKA_LIBS)
kafka-jars:
	scripts/kafka-jars.sh $(CACHE_DIR)/kafka

build:
	$(GO) build -o $(BIN) ./cmd/chaosrun

## run: the main job
run: build
	$(BIN) run owner-isolation

## test: every test (needs `make deps` first)
test: proto-check lint
	$(GO) test -race -count=1 -timeout 40m ./...

## test-short: the pure and in-memory tests only
test-short:
	$(GO) test -short -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## proto: regenerate heartbeatpb and upstreampb from their .proto files
proto:
	cd heartbeatpb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative heartbeat.proto
	cd upstreampb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative upstream.proto

## proto-check: fail if the committed generated code is stale
proto-check:
	scripts/proto-check.sh

clean-cache:
	rm -rf $(CACHE_DIR) bin
