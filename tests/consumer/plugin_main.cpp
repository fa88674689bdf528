// A program that uses mpipool only through the shared library consumer_plugin.
#include "plugin.hpp"

int main(int argc, char** argv) { return consumer_plugin_run(argc, argv); }
