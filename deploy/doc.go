// Package deploy holds what runs depthcast for real: the container image (Dockerfile), a docker compose
// stack with Apache Kafka, Prometheus and Grafana (compose.yaml, prometheus/, grafana/) and Kubernetes
// manifests (k8s/). See README.md beside this file.
//
// The package has no code. Its tests check the files statically against the real binary: every command
// line and DEPTHCAST_* variable must parse with the flags the binary has, every probe, port and selector
// must line up, and every metric the dashboard, the autoscaler and the adapter rule query must appear on a
// real node's /metrics. Nothing here runs concurrently outside the tests.
package deploy
