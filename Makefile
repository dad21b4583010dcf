# FluxKit SMS — build, test and run.
# `make test` is the one test command (CI runs it through .ci/run).

GO        ?= go
PKGS      ?= ./...
BIN       := $(CURDIR)/.bin
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d

export PATH := $(BIN):$(PATH)

.PHONY: test lint tools

## test: everything — unit, moto integration, emulator — then lint
test: tools
	$(GO) test -count=1 -timeout 20m $(PKGS)

## lint: gofmt, go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## tools: test-only tools pinned here (Lambda Runtime Interface Emulator)
tools: $(BIN)/aws-lambda-rie

$(BIN)/aws-lambda-rie:
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
