#include <cblas.h>
/* OpenBLAS extension, declared here so callers can pin the thread count. */
void openblas_set_num_threads(int num_threads);
