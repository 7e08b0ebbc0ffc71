"""Deployment of the cluster: the one driver of `docker compose` (deploy.compose), used by the
integration tests, the benchmark suite and the experiments; and the swarm stack file
(deploy/swarm-stack.yml) for several hosts."""
