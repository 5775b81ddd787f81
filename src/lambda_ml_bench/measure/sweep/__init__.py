"""`lmb compare`: architecture x memory x workload x backend, measured fairly, in parallel, and put back.

In the steps AWS Lambda Power Tuning names, one module each, plain data in and out:
cells (what is swept, and in which order) -> initializer (save every target's configuration; give a cell a version
and alias of its own) -> executor (invoke, read the REPORT line, shape the record) -> cleaner (delete a cell's
version and alias; put every target back) -> analyzer (`measure.recommend`). `driver` runs the cells in parallel and
puts everything back whatever happens; `targets` finds the functions.

Each cell (a target function, a memory size, a workload, a round) gets a version of its own: the function's
`$LATEST` is set to the cell's configuration, a version is published and an alias `bench-<memory>-w<workload>-r<round>`
points at it; the cell's invocations go to the alias, so its first one is a real cold start, and the cell's alias and
version are deleted when it is done. `$LATEST` is put back as it was at the end, and also after an error, Ctrl-C or
SIGTERM: the original configuration of every target is written to a file before the first change, and
`lmb compare --restore FILE` puts it back and deletes leftover versions and aliases.
"""
