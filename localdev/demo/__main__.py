"""``python -m localdev.demo`` (``make demo``): the demo of ``localdev/demo/run.py``."""

from localdev.demo.run import main

if __name__ == "__main__":
    raise SystemExit(main())
