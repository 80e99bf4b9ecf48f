"""Reference datasets and models for the demo, the benchmarks and the tests."""
