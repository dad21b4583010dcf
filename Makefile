# FluxKit SMS — build, test and run.
# `make test` is the one test command (CI runs it through .ci/run).

GO        ?= go
PKGS      ?= ./...
BIN       := $(CURDIR)/.bin
# The Lambda Runtime Interface Emulator the tests run: keep RIE_VERSION equal
# to rie.Version (internal/testing/rie; a test in internal/e2e/deploytest
# checks). The tests install it into .bin themselves when it is missing.
RIE_PKG     := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d

# .venv holds only the Python test tools that were missing from PATH
# (scripts/pytools.sh); .bin the emulator and the local server.
export PATH := $(BIN):$(CURDIR)/.venv/bin:$(PATH)

# Lambda binaries. Every one is built the same way: the arm64 deployment build
# (sam build runs build-<Logical id>Function with ARTIFACTS_DIR set; make
# build) and the host-architecture build the emulator runs (make
# invoke, internal/testing/rie). Keep LAMBDA_GOFLAGS equal to rie.BuildFlags: a test
# in internal/e2e/deploytest checks both. -trimpath and -buildvcs=false make the
# output independent of the checkout's path and git state (reproducible).
LAMBDA_ENV     := CGO_ENABLED=0 GOOS=linux
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w"
LAMBDA_ARCH    := arm64
HOST_ARCH       = $(shell $(GO) env GOHOSTARCH)
BUILD_DIR      := $(CURDIR)/build
SEND_PKG       ?= ./functions/send
DRAIN_PKG      ?= ./functions/drain
RECEIPTS_PKG   ?= ./functions/receipts
PUBLISHER_PKG  ?= ./functions/publisher
FUNCTION_PKG    = $(if $(filter send,$(FUNCTION)),$(SEND_PKG),$(if $(filter drain,$(FUNCTION)),$(DRAIN_PKG),$(if $(filter receipts,$(FUNCTION)),$(RECEIPTS_PKG),$(if $(filter publisher,$(FUNCTION)),$(PUBLISHER_PKG)))))

# lambda-build: package, output directory (gets ./bootstrap), GOARCH
define lambda-build
	@mkdir -p $(2)
	$(LAMBDA_ENV) GOARCH=$(3) $(GO) build $(LAMBDA_GOFLAGS) -o $(2)/bootstrap $(1)
endef

.PHONY: test lint tools build build-SendFunction build-DrainFunction build-ReceiptsFunction build-PublisherFunction invoke deploy bench

## test: every test — unit, moto integration, the binaries under the emulator, template checks
# Two groups. The packages whose tests start moto_server (their test binary
# links internal/testing/mototest) measure real time against it: limiter
# windows, drain throughput, timeouts. Side by side on 2 cores they slow each
# other down, so they run one package at a time (-p 1), after every other
# package has run in parallel (go test's default -p, one per CPU). The
# groups are computed on each run from what the tests import (go list), so a
# new package falls into the right one; `make test-groups` prints them.
MOTO_PKG      := github.com/fluxkit/sms/internal/testing/mototest
# once: the value of a recursively expanded variable, computed on first use
# and kept (each go list runs once per make run, and only for these targets).
once           = $(eval $(1) := $(2))$($(1))
MODULE         = $(call once,MODULE,$(shell $(GO) list -m))
# rel: import paths -> ./relative/dirs, for shorter command lines.
rel            = $(patsubst $(MODULE)%,.%,$(1))
# go list -test describes each test binary (IMPORT.test) with every package
# it links; awk keeps the ones that link mototest.
SERIAL_PKGS    = $(call once,SERIAL_PKGS,$(call rel,$(shell $(GO) list -test -f '{{.ImportPath}} {{join .Deps " "}}' $(PKGS) | \
  awk '$$1 ~ /\.test$$/ && / $(subst /,\/,$(MOTO_PKG))( |$$)/ { sub(/\.test$$/, "", $$1); print $$1 }')))
PARALLEL_PKGS  = $(call once,PARALLEL_PKGS,$(filter-out $(SERIAL_PKGS),$(call rel,$(shell $(GO) list $(PKGS)))))
.PHONY: test-groups pytools

test: tools
	$(if $(PARALLEL_PKGS),$(GO) test -count=1 -timeout 20m $(PARALLEL_PKGS))
	$(if $(SERIAL_PKGS),$(GO) test -count=1 -p 1 -timeout 20m $(SERIAL_PKGS))

## test-groups: the packages make test runs in parallel, then one at a time
test-groups:
	@echo "parallel ($(words $(PARALLEL_PKGS))): $(PARALLEL_PKGS)"
	@echo "serial ($(words $(SERIAL_PKGS))): $(SERIAL_PKGS)"

## lint: gofmt, go vet, cfn-lint on template.yaml
lint: pytools
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cfn-lint template.yaml

## tools: the test tools: the Lambda Runtime Interface Emulator at RIE_VERSION
##        into .bin (installed again when another version is there), and the
##        Python tools of scripts/requirements-test.txt (pytools)
tools: pytools
	@$(GO) version -m $(BIN)/aws-lambda-rie 2>/dev/null | grep -qF '$(RIE_VERSION)' || \
	  { echo 'installing aws-lambda-rie $(RIE_VERSION) into .bin'; GOBIN=$(BIN) $(GO) install $(RIE_PKG)@$(RIE_VERSION); }

## pytools: the Python test tools on PATH are used; a missing one is installed
##          at its pinned version into .venv (scripts/pytools.sh)
pytools:
	@scripts/pytools.sh

## build-SendFunction, build-DrainFunction, build-ReceiptsFunction: SAM makefile builder targets (arm64)
build-SendFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; for a local build run make build))
	$(call lambda-build,$(SEND_PKG),$(ARTIFACTS_DIR),$(LAMBDA_ARCH))

build-DrainFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; for a local build run make build))
	$(call lambda-build,$(DRAIN_PKG),$(ARTIFACTS_DIR),$(LAMBDA_ARCH))

build-ReceiptsFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; for a local build run make build))
	$(call lambda-build,$(RECEIPTS_PKG),$(ARTIFACTS_DIR),$(LAMBDA_ARCH))

## build-PublisherFunction: the status event publisher (deployed only with EventBusName)
build-PublisherFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; for a local build run make build))
	$(call lambda-build,$(PUBLISHER_PKG),$(ARTIFACTS_DIR),$(LAMBDA_ARCH))

## build: every function for arm64 into build/arm64/<fn>/bootstrap, with their sizes
build:
	$(call lambda-build,$(SEND_PKG),$(BUILD_DIR)/arm64/send,$(LAMBDA_ARCH))
	$(call lambda-build,$(DRAIN_PKG),$(BUILD_DIR)/arm64/drain,$(LAMBDA_ARCH))
	$(call lambda-build,$(RECEIPTS_PKG),$(BUILD_DIR)/arm64/receipts,$(LAMBDA_ARCH))
	$(call lambda-build,$(PUBLISHER_PKG),$(BUILD_DIR)/arm64/publisher,$(LAMBDA_ARCH))
	@for fn in send drain receipts publisher; do f=$(BUILD_DIR)/arm64/$$fn/bootstrap; \
	  printf '%-34s %10d bytes  (%d gzipped)\n' $${f#$(CURDIR)/} $$(wc -c < $$f) $$(gzip -9c < $$f | wc -c); done

## invoke: one function on one event under the emulator, against moto and the
##         Twilio fake it starts, env from events/env.json (events/README.md)
##         make invoke FUNCTION=send EVENT=events/send/<event>.json
invoke: tools
	@test -n "$(FUNCTION_PKG)" -a -n "$(EVENT)" || \
	  { echo 'usage: make invoke FUNCTION=send|drain|receipts|publisher EVENT=events/<fn>/<event>.json [ENV_FILE=events/env.json]'; exit 2; }
	$(call lambda-build,$(FUNCTION_PKG),$(BUILD_DIR)/host/$(FUNCTION),$(HOST_ARCH))
	@$(GO) run ./cmd/invoke -function $(FUNCTION) -bootstrap $(BUILD_DIR)/host/$(FUNCTION)/bootstrap \
	  -event $(EVENT) -env-file $(or $(ENV_FILE),events/env.json)

## deploy: sam build && sam deploy with samconfig.toml; the first time: make deploy DEPLOY_FLAGS=--guided
deploy:
	@command -v sam >/dev/null || { echo 'sam not found: install the AWS SAM CLI, see docs/deploy.md'; exit 1; }
	sam build
	sam deploy $(DEPLOY_FLAGS)

# Local development server (internal/local, docs/local.md). The binary is
# built into .bin and rebuilt only when a non-test Go file under internal/ or cmd/ or
# go.mod/go.sum changed, so `$(make -s token)` runs no compiler and is
# quick. Every recipe line is silent: the token target prints the token
# and nothing else on stdout.
LOCAL_BIN  := $(BIN)/fluxkit-local
LOCAL_SRCS := go.mod go.sum $(shell find internal cmd -name '*.go' ! -name '*_test.go' 2>/dev/null)
.PHONY: local token

## local: the service on 127.0.0.1:3000 (PORT overrides): in-memory limiter, queue and
##        idempotency store, console provider; make local LOCAL_FLAGS="-grace 10s"
local: $(LOCAL_BIN)
	@$(LOCAL_BIN) $(LOCAL_FLAGS)

## token: a development JWT for `make local`:  -H "Authorization: Bearer $$(make -s token)"
token: $(LOCAL_BIN)
	@$(LOCAL_BIN) -token

$(LOCAL_BIN): $(LOCAL_SRCS)
	@$(GO) build -o $@ ./cmd/fluxkit-local

## bench: the benchmark table (handler cost, validation, providers, limiter,
##        local server, cold start, sizes), saved in docs/benchmarks.md
bench: tools
	scripts/bench.sh

# Stress tests (internal/e2e/chaos, docs/chaos.md) and fuzzing. `make test` runs a
# quick chaos run (150 messages per scenario) and every fuzz target's seed
# corpus; these targets run the long versions.
CHAOS_N      ?= 2000
FUZZTIME     ?= 30s
FUZZ_TARGETS := ./internal/sms:FuzzValidate ./internal/sms:FuzzCountSegments ./internal/sms:FuzzSmartEncode \
	./internal/sms:FuzzMaskDigits ./internal/apigw:FuzzServe ./internal/queue:FuzzDecode \
	./internal/twilio:FuzzTwilioResponse ./internal/vonage:FuzzVonageResponse
.PHONY: chaos fuzz

## chaos: CHAOS_N messages (default 2000) per scenario through send and drain against
##        moto and the provider fakes under injected faults, then the failover scenario
##        (Twilio down, then flaky, Vonage behind it), then the receipts scenarios
##        (receipts duplicated, reordered, refused once; status events under
##        PutEvents failures); prints the counts.
##        CHAOS_SCENARIOS=all adds the other two provider/DynamoDB-mode pairings
chaos:
	CHAOS_N=$(CHAOS_N) $(GO) test -count=1 -timeout 60m -run '^TestChaos(Failover|Receipts)?$$' -v ./internal/e2e/chaos/

## fuzz: every fuzz target for FUZZTIME each (default 30s), one after the other;
##       fails at the end if any target failed (its input is in testdata/fuzz)
fuzz:
	@failed=; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$fn"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi
