package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proc"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/sink/kafka/providertest"
)

// Environment variables of the container tests.
const (
	// envRequireDocker turns "no Docker engine" or "no image" from a skip
	// into a failure; .ci/run sets it, CI here must not skip.
	envRequireDocker = "CHAOSRUN_REQUIRE_DOCKER"
	// envPull lets the tests pull an image that is not present locally.
	envPull = "CHAOSRUN_KAFKA_PULL"
	// envSigintChild makes TestTestcontainersSIGINT's child run.
	envSigintChild = "CHAOSRUN_TC_SIGINT_CHILD"
)

// needDocker skips t, with one line saying why, unless a Docker engine
// answers and the test image is present locally (or may be pulled). It
// returns the image and a Docker client closed with the test.
func needDocker(t *testing.T) (string, *client.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Kafka containers; skipped with -short")
	}
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv(envRequireDocker) == "1" {
			t.Fatalf("%s (%s=1: required)", msg, envRequireDocker)
		}
		t.Skipf("skipping container test: %s", msg)
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		skip("no Docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		skip("no Docker engine answers (%v); `make deps` starts one", err)
	}
	img := os.Getenv(kafka.EnvImage)
	if img == "" {
		img = kafka.DefaultImage
	}
	if _, err := cli.ImageInspect(ctx, img); err != nil && os.Getenv(envPull) != "1" {
		skip("image %s not present locally (`make kafka-image` builds chaosrun/kafka:%s and the Makefile exports %s; %s=1 allows a pull)",
			img, kafka.KafkaVersion, kafka.EnvImage, envPull)
	}
	return img, cli
}

// labelled lists the run's containers (stopped ones too) and networks.
func labelled(t *testing.T, cli *client.Client, runID string) (containers, networks []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := client.Filters{}.Add("label", kafka.LabelRunID+"="+runID)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	for _, c := range cs.Items {
		containers = append(containers, c.ID)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	for _, n := range ns.Items {
		networks = append(networks, n.ID)
	}
	return containers, networks
}

// nothingLeftInDocker checks through the Docker API that the provider's
// containers, network and volumes exist while it runs and are all gone
// after Close.
func nothingLeftInDocker(cli *client.Client, brokers int) providertest.Check {
	return func(t *testing.T, p kafka.Provider) func(t *testing.T) {
		tc := p.(*kafka.Testcontainers)
		containers, networks, volumes := tc.Resources()
		require.Len(t, containers, brokers, "one container per broker")
		gotC, gotN := labelled(t, cli, tc.RunID())
		require.ElementsMatch(t, containers, gotC, "the containers carry the run's label")
		require.ElementsMatch(t, networks, gotN, "so does the network")
		if brokers > 1 {
			require.Len(t, networks, 1, "several brokers share a network of their own")
		}
		t.Logf("run %s: containers %d, networks %d, volumes %v", tc.RunID(), len(containers), len(networks), volumes)
		return func(t *testing.T) {
			gotC, gotN := labelled(t, cli, tc.RunID())
			require.Empty(t, gotC, "containers left")
			require.Empty(t, gotN, "networks left")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, v := range volumes {
				_, err := cli.VolumeInspect(ctx, v, client.VolumeInspectOptions{})
				require.Error(t, err, "volume %s left", v)
			}
		}
	}
}

func newTestcontainers(t *testing.T, img string, brokers int) kafka.Provider {
	t.Helper()
	p, err := kafka.NewProvider(kafka.Options{
		Provider:       kafka.ProviderTestcontainers,
		Testcontainers: kafka.TestcontainersConfig{Image: img, Brokers: brokers, Dir: t.TempDir()},
		Logger:         slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	require.NoError(t, err)
	return p
}

// TestTestcontainersContract is the provider test of the container
// provider: start a Kafka container, produce and consume 10,000 records
// with headers, stop, and find no container, network or volume left.
func TestTestcontainersContract(t *testing.T) {
	img, cli := needDocker(t)
	providertest.Run(t, func(t *testing.T) kafka.Provider { return newTestcontainers(t, img, 1) },
		providertest.Records(10_000), providertest.NothingLeft(nothingLeftInDocker(cli, 1)))
}

// TestTestcontainersContractThreeBrokers runs the contract on three
// containers on a network of their own.
func TestTestcontainersContractThreeBrokers(t *testing.T) {
	img, cli := needDocker(t)
	providertest.Run(t, func(t *testing.T) kafka.Provider { return newTestcontainers(t, img, 3) },
		providertest.Records(3000), providertest.NothingLeft(nothingLeftInDocker(cli, 3)))
}

// TestTestcontainersCancelRemoves checks that the cluster lives no longer
// than the context given to Start, and that Close saved the output.
func TestTestcontainersCancelRemoves(t *testing.T) {
	img, cli := needDocker(t)
	dir := t.TempDir()
	p, err := kafka.NewTestcontainers(kafka.TestcontainersConfig{Image: img, Dir: dir,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	ctx, cancel := context.WithCancel(context.Background())
	_, err = p.Start(ctx)
	require.NoError(t, err)
	gotC, _ := labelled(t, cli, p.RunID())
	require.Len(t, gotC, 1)
	cancel()
	require.Eventually(t, func() bool {
		gotC, _ := labelled(t, cli, p.RunID())
		return len(gotC) == 0
	}, time.Minute, 200*time.Millisecond, "cancelling Start's context removes the container")
	require.NoError(t, p.Close())
	log, err := os.ReadFile(filepath.Join(dir, "kafka", "n1", "logs", "server.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "Kafka Server started", "the broker's output is kept in the run directory")
}

// TestTestcontainersCancelDuringStart cancels Start while the containers
// are being created or the brokers start: Start fails and leaves nothing.
func TestTestcontainersCancelDuringStart(t *testing.T) {
	img, cli := needDocker(t)
	for _, d := range []time.Duration{500 * time.Millisecond, 3 * time.Second} {
		p, err := kafka.NewTestcontainers(kafka.TestcontainersConfig{Image: img, Brokers: 3,
			Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_, err = p.Start(ctx)
		cancel()
		require.Error(t, err, "Start cancelled after %v", d)
		require.NoError(t, p.Close())
		gotC, gotN := labelled(t, cli, p.RunID())
		require.Empty(t, gotC, "containers left after a start cancelled at %v", d)
		require.Empty(t, gotN, "networks left after a start cancelled at %v", d)
	}
}

// TestTestcontainersSIGINT starts the provider in a child process (this
// test binary), interrupts it, and checks that the child removed its
// container before dying of the signal.
func TestTestcontainersSIGINT(t *testing.T) {
	_, cli := needDocker(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	runID := fmt.Sprintf("sigint-%d", time.Now().UnixNano()%1_000_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	child, err := proc.Start(ctx, proc.Spec{Name: "SIGINT child", Path: exe, Args: []string{"-test.run=^TestTestcontainersSIGINTChild$", "-test.v"},
		Env: append(os.Environ(), envSigintChild+"="+runID), Log: filepath.Join(t.TempDir(), "child.log"), Ready: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, child.Kill())
		if t.Failed() {
			t.Logf("child's output:\n%s", proc.Tail(child.LogPath(), 50))
		}
		// Whatever happened, leave nothing behind.
		_, _ = kafka.SweepContainers(context.Background(), runID)
	})
	_, err = child.WaitReady(ctx)
	require.NoError(t, err)
	gotC, _ := labelled(t, cli, runID)
	require.Len(t, gotC, 1, "the child's container runs")

	require.NoError(t, child.Signal(syscall.SIGINT))
	err = child.Wait(ctx)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the child dies of the signal")
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGINT, "child status %v: the signal took its course after the cleanup", ee)
	gotC, gotN := labelled(t, cli, runID)
	require.Empty(t, gotC, "containers left after SIGINT")
	require.Empty(t, gotN, "networks left after SIGINT")
}

// TestTestcontainersSIGINTChild is the child of TestTestcontainersSIGINT;
// it does nothing unless that test starts it.
func TestTestcontainersSIGINTChild(t *testing.T) {
	runID := os.Getenv(envSigintChild)
	if runID == "" {
		t.Skip("only runs as the child of TestTestcontainersSIGINT")
	}
	p, err := kafka.NewTestcontainers(kafka.TestcontainersConfig{RunID: runID,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	require.NoError(t, err)
	_, err = p.Start(context.Background())
	require.NoError(t, err)
	fmt.Println("READY")
	time.Sleep(3 * time.Minute) // the parent interrupts long before
	t.Fatal("not interrupted")
}

// TestStartTimeLocalVsTestcontainers measures, in one run, how long each
// provider takes to start a single broker ready for writes, and logs both.
func TestStartTimeLocalVsTestcontainers(t *testing.T) {
	img, _ := needDocker(t)
	libs := localLibs(t)
	const rounds = 2
	var local, tc []time.Duration
	for range rounds {
		for _, kind := range []string{kafka.ProviderLocal, kafka.ProviderTestcontainers} {
			var p kafka.Provider
			var err error
			if kind == kafka.ProviderLocal {
				p, err = kafka.NewLocal(kafka.LocalConfig{Dir: t.TempDir(), LibsDir: libs, Logger: slog.New(slog.DiscardHandler)})
			} else {
				p, err = kafka.NewTestcontainers(kafka.TestcontainersConfig{Image: img, Logger: slog.New(slog.DiscardHandler)})
			}
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			t0 := time.Now()
			_, err = p.Start(ctx)
			took := time.Since(t0)
			cancel()
			require.NoError(t, p.Close())
			require.NoError(t, err, "start %s", kind)
			if kind == kafka.ProviderLocal {
				local = append(local, took)
			} else {
				tc = append(tc, took)
			}
		}
	}
	slices.Sort(local)
	slices.Sort(tc)
	t.Logf("START TIME (1 broker, ready for writes, %d rounds): local min %v max %v; testcontainers (%s) min %v max %v",
		rounds, local[0].Round(time.Millisecond), local[rounds-1].Round(time.Millisecond), img,
		tc[0].Round(time.Millisecond), tc[rounds-1].Round(time.Millisecond))
}
