package app_test

import (
	"testing"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

// moto is the package's one moto server: every stack deploys its own table,
// queues and secret on it under names of its own.
var moto *mototest.Server

func TestMain(m *testing.M) { mototest.Main(m, &moto) }
