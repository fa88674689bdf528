# Sourced by the other scripts: what Open MPI needs to run as root (CI containers) and with
# more ranks than cores (laptops, 2-core CI machines). Harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
