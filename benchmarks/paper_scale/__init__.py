"""bench_paper_scale.py: the library, stages and measurements of the paper-size benchmark."""
