"""`ollama-sidecar loadtest`: prove the SLO against any Ollama-compatible URL.

A matrix of runs (model, API, prompt and output size, concurrency), each judged against its
tier's budgets and timeouts from the sidecar's own config; reports in Markdown, JSON and PNG;
concurrency sweeps with tuning advice; soaks that watch the sidecar's memory and open files;
`merge` for reports from several regions. See docs/slo.md.
"""
