"""The run folder and the record formats it holds, each with one owner: run info, status, best, checkpoints."""
