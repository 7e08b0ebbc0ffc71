"""Deployment of the cluster: the one driver of `docker compose` (deploy.compose), used by the
integration tests, the benchmark suite and the experiments; the one definition of an N-node cluster
(deploy.stackgen) behind the N-node compose file, the swarm stack (deploy/swarm-stack.yml) and the
Kubernetes manifests (deploy.kubernetes); and `scripts/swarm` (deploy.swarm), a run on a Docker
Swarm of one host or several."""
