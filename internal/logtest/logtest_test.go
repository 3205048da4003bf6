package logtest

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNewQuietAfterTest(t *testing.T) {
	var log *slog.Logger
	t.Run("inner", func(t *testing.T) {
		log = New(t)
		log.Info("while the test runs")
	})
	assert.NotPanics(t, func() { log.Info("after the test ended") })
}
