"""Speed measurements of Chengzhi; `make bench` runs them all (see benchmarks/README.md)."""
