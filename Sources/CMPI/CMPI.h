// Kallima's view of MPI: the calls data-parallel training needs, as plain functions Swift can
// import. MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros, which Swift
// cannot import, and their types differ between Open MPI (pointers) and MPICH (integers);
// here they are fixed once. Every function returns MPI's error code (MPI_SUCCESS is 0):
// the communicator's error handler is set to return errors, so the caller can say what
// failed and end the whole job (kmpi_abort) instead of hanging.
// Built only with the MPI package trait (swift build --traits MPI); pkg-config mpi-c finds
// the implementation Debian's alternatives select (Open MPI or MPICH).
#ifndef KALLIMA_CMPI_H
#define KALLIMA_CMPI_H

#include <limits.h>
#include <stddef.h>
#include <mpi.h>

/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED (any thread may call, one at a time: a
/// rank's collective queue runs the gradient allreduces on a thread of its own), errors
/// returned.
static inline int kmpi_init(void) {
  int provided = 0;
  int error = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
  if (error != MPI_SUCCESS) return error;
  return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

/// Whether the library granted MPI_THREAD_SERIALIZED or better (1) or less (0).
static inline int kmpi_serialized(void) {
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  return provided >= MPI_THREAD_SERIALIZED;
}

static inline int kmpi_initialized(void) {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag;
}

static inline int kmpi_finalized(void) {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag;
}

static inline int kmpi_finalize(void) { return MPI_Finalize(); }

static inline int kmpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

static inline int kmpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

/// This process's rank and the number of processes among those sharing its memory (its
/// machine): the device a rank takes on a box with several GPUs.
static inline int kmpi_local_rank(int *rank, int *size) {
  MPI_Comm local;
  int error = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  if (error != MPI_SUCCESS) return error;
  error = MPI_Comm_rank(local, rank);
  if (error == MPI_SUCCESS) error = MPI_Comm_size(local, size);
  MPI_Comm_free(&local);
  return error;
}

/// In-place sums over all ranks, in chunks of at most INT_MAX elements (MPI's count is an int).
static inline int kmpi_allreduce_sum_float(float *values, long count) {
  for (long done = 0; done < count;) {
    int chunk = (int)(count - done < INT_MAX ? count - done : INT_MAX);
    int error = MPI_Allreduce(MPI_IN_PLACE, values + done, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (error != MPI_SUCCESS) return error;
    done += chunk;
  }
  return MPI_SUCCESS;
}

/// In-place reductions of doubles: operation 0 sum, 1 minimum, 2 maximum.
static inline int kmpi_allreduce_double(double *values, int count, int operation) {
  MPI_Op op = operation == 1 ? MPI_MIN : operation == 2 ? MPI_MAX : MPI_SUM;
  return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, op, MPI_COMM_WORLD);
}

/// Rank `root`'s bytes to every rank, in chunks of at most INT_MAX.
static inline int kmpi_broadcast(void *bytes, long count, int root) {
  for (long done = 0; done < count;) {
    int chunk = (int)(count - done < INT_MAX ? count - done : INT_MAX);
    int error = MPI_Bcast((char *)bytes + done, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
    if (error != MPI_SUCCESS) return error;
    done += chunk;
  }
  return MPI_SUCCESS;
}

static inline int kmpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

/// Ends every process of the job with `status`.
static inline void kmpi_abort(int status) { MPI_Abort(MPI_COMM_WORLD, status); }

/// MPI's text for an error code, into `text` (at least MPI_MAX_ERROR_STRING bytes).
static inline void kmpi_error_string(int code, char *text, int capacity) {
  char buffer[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) length = 0;
  if (length >= capacity) length = capacity - 1;
  for (int i = 0; i < length; ++i) text[i] = buffer[i];
  text[length] = 0;
}

/// The implementation's name and version (MPI_Get_library_version), into `text`.
static inline void kmpi_library_version(char *text, int capacity) {
  char buffer[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  if (MPI_Get_library_version(buffer, &length) != MPI_SUCCESS) length = 0;
  if (length >= capacity) length = capacity - 1;
  for (int i = 0; i < length; ++i) text[i] = buffer[i];
  text[length] = 0;
}

#endif
