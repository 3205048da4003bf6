# chaosrun — see README.md. Every target is safe to run twice.

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
CACHE_DIR ?= $(CURDIR)/.cache
KAFKA_LIBS = $(CACHE_DIR)/kafka/libs
BIN        = bin/chaosrun

export CHAOSRUN_KAFKA_LIBS ?= $(KAFKA_LIBS)
# The Kafka Connect cache of `make connect-jars`: libs/ (the runtime) and plugins/ (Debezium).
export CHAOSRUN_CONNECT_LIBS ?= $(CACHE_DIR)/connect
export PATH := $(GOBIN):$(PATH)

# The Kafka image of the testcontainers provider: chaosrun/kafka at the version pinned for the jars,
# built by `make kafka-image`. When it exists (and CHAOSRUN_KAFKA_IMAGE is not set already) the tests
# and `make run` use it; otherwise the provider's default, the official apache/kafka image, applies.
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' build/kafka/pom.xml)
KAFKA_IMAGE   := chaosrun/kafka:$(KAFKA_VERSION)
# Deferred (=, not :=): on a fresh machine the image is built by the deps step of this same `make`, so the
# check runs when a recipe starts, not when the Makefile is read.
ifeq ($(origin CHAOSRUN_KAFKA_IMAGE),undefined)
CHAOSRUN_KAFKA_IMAGE = $(shell docker image inspect --format '{{.Id}}' $(KAFKA_IMAGE) >/dev/null 2>&1 && echo $(KAFKA_IMAGE))
endif
export CHAOSRUN_KAFKA_IMAGE

PROTOC_GEN_GO_VERSION      = v1.36.12
PROTOC_GEN_GO_GRPC_VERSION = v1.5.1
STATICCHECK_VERSION        = v0.8.2
STRINGER_VERSION           = v0.51.0

.PHONY: all deps deps-apt deps-go deps-docker kafka-jars connect-jars kafka-image build run test test-short \
	test-containers lint proto generate-check clean-cache clean-containers

all: build

## deps: install everything the tests need (Debian packages, Go tools, Kafka and Connect jars, a Docker engine and
## the Kafka image; without a Docker engine the last two say why and the container tests skip).
## `run` and `test` depend on it; once done it takes about a second.
deps: deps-apt deps-go kafka-jars connect-jars deps-docker kafka-image

deps-apt:
	scripts/deps-apt.sh

deps-go:
	@test -x $(GOBIN)/protoc-gen-go && $(GOBIN)/protoc-gen-go --version | grep -q $(PROTOC_GEN_GO_VERSION) || \
		$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@test -x $(GOBIN)/protoc-gen-go-grpc && $(GOBIN)/protoc-gen-go-grpc --version | grep -q $(PROTOC_GEN_GO_GRPC_VERSION:v%=%) || \
		$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@test -x $(GOBIN)/staticcheck && $(GOBIN)/staticcheck -version | grep -q "($(STATICCHECK_VERSION:v%=%))" || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@$(GO) version -m $(GOBIN)/stringer 2>/dev/null | grep -q "golang.org/x/tools	$(STRINGER_VERSION)" || \
		$(GO) install golang.org/x/tools/cmd/stringer@$(STRINGER_VERSION)
	$(GO) mod download

## kafka-jars: resolve the Apache Kafka broker jars through Maven into $(KAFKA_LIBS)
kafka-jars:
	scripts/kafka-jars.sh $(CACHE_DIR)/kafka

## connect-jars: resolve the Kafka Connect runtime and the Debezium PostgreSQL connector through
## Maven into $(CACHE_DIR)/connect (libs/ and plugins/debezium-postgres/)
connect-jars:
	scripts/connect-jars.sh $(CACHE_DIR)/connect

## deps-docker: install docker.io and debootstrap if missing, start dockerd if no engine answers
deps-docker:
	scripts/deps-docker.sh $(CACHE_DIR)

## kafka-image: build $(KAFKA_IMAGE) without pulling (debootstrap + docker import + the jars);
## rebuilt only when its inputs change
kafka-image: kafka-jars
	scripts/kafka-image.sh $(CACHE_DIR)

build:
	$(GO) build -o $(BIN) ./cmd/chaosrun

## run: the main job, the negative control: one plan with fencing on (must pass) and off (must be
## flagged); fails unless both verdicts are the ones the scenario declares. On netns: real iptables
## rules in real namespaces (docs/design.md §11 has the sweeps behind this choice). Then the same on
## the second target, Debezium on Kafka Connect, with exactly-once source support on and off (§13).
run: deps build
	$(BIN) compare stale-bootstrap-in-flight --backend netns
	$(BIN) compare connect-task-worker-kill --backend netns

## test: every test (brings in what they need through deps)
test: deps generate-check lint
	$(GO) test -race -count=1 -timeout 40m ./...

## test-containers: the testcontainers provider's tests and the provider contract suite only
test-containers:
	$(GO) test -race -count=1 -timeout 20m -v -run 'Testcontainers|Contract|StartTime' ./sink/kafka/

## test-short: the pure and in-memory tests only
test-short:
	$(GO) test -short -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

## proto: regenerate heartbeatpb, upstreampb and checker/dumppb from their .proto files
proto:
	cd heartbeatpb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative heartbeat.proto
	cd upstreampb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative upstream.proto
	cd checker/dumppb && protoc --go_out=. --go_opt=paths=source_relative dump.proto

## generate-check: fail if committed generated code (protobuf, stringer) is stale
generate-check:
	scripts/generate-check.sh

clean-cache:
	rm -rf $(CACHE_DIR) bin

## clean-containers: remove every container and network the testcontainers provider left behind
## (a run killed with SIGKILL cannot clean up after itself)
clean-containers:
	@ids=$$(docker ps -aq --filter label=chaosrun.provider=testcontainers); \
		[ -z "$$ids" ] || docker rm -f -v $$ids
	@ids=$$(docker network ls -q --filter label=chaosrun.provider=testcontainers); \
		[ -z "$$ids" ] || docker network rm $$ids
