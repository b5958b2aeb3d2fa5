// Package deploy holds no code: it is where the deployment files live
// (local scripts, systemd units, compose, Kubernetes manifests), and its
// tests check that those files parse and agree with each other and with
// Refract's own configuration types.
package deploy
