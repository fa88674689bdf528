// Linked into the sanitizer builds' programs: a dlclose() that keeps every library loaded.
// Open MPI unloads its components, and with them libpmix, in MPI_Finalize; LeakSanitizer runs
// at exit, after that, and would then neither scan those libraries' globals (so what they still
// point to is reported as leaked) nor name them in a stack (so no suppression could match).
extern "C" int dlclose(void* handle) {
  (void)handle;
  return 0;
}
