"""What ``training``'s sub-packages (``rm``, ``grpo``, ``evaluation``) share: distributed and launch
helpers, precision, bootstrap statistics, report writing and batched generation."""
