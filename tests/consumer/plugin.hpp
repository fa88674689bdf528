// The interface of consumer_plugin, a shared library built on mpipool.
#pragma once

// Runs a pool over the job's ranks (mpipool::run) and prints what its map computed.
int consumer_plugin_run(int argc, char** argv);
