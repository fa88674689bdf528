#pragma once
// Byte buffers and the binary archives that write into and read from them.

#include <cstddef>
#include <span>
#include <streambuf>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

namespace mpipool::detail {

using byte_buffer = std::vector<char>;

// Binary archives need a streambuf. These two sit directly on the message bytes, with no
// buffering layer in between, so nothing needs flushing before the bytes are sent.
class append_streambuf : public std::streambuf {
 public:
  explicit append_streambuf(byte_buffer& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.insert(out_.end(), s, s + n);
    return n;
  }

 private:
  byte_buffer& out_;
};

class span_streambuf : public std::streambuf {
 public:
  explicit span_streambuf(std::span<const char> bytes) {
    char* begin = const_cast<char*>(bytes.data());  // read-only: no put area is ever set
    setg(begin, begin, begin + bytes.size());
  }
  std::size_t consumed() const { return static_cast<std::size_t>(gptr() - eback()); }
  // Moves the read position to `offset` bytes from the start: an archive reads nothing ahead,
  // so it goes on from there.
  void seek(std::size_t offset) { setg(eback(), eback() + offset, egptr()); }
};

// Values travel by copy: no object tracking (which would turn the second of two values saved
// from the same address into a back-reference), no header, no locale facets.
inline constexpr unsigned archive_flags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

// Appends serialized values to a byte buffer.
class writer {
 public:
  explicit writer(byte_buffer& out) : buf_(out), archive_(buf_, archive_flags) {}
  template <class T>
  writer& operator<<(const T& value) {
    archive_ << value;
    return *this;
  }

 private:
  append_streambuf buf_;
  boost::archive::binary_oarchive archive_;
};

// Reads serialized values back, in the order they were written.
class reader {
 public:
  explicit reader(std::span<const char> bytes) : buf_(bytes), archive_(buf_, archive_flags) {}
  template <class T>
  reader& operator>>(T& value) {
    archive_ >> value;
    return *this;
  }
  template <class T>
  T read() {
    T value{};
    archive_ >> value;
    return value;
  }
  // Where the next read starts, in bytes from the start of the span; and moving it.
  std::size_t position() const { return buf_.consumed(); }
  void seek(std::size_t offset) { buf_.seek(offset); }

 private:
  span_streambuf buf_;
  boost::archive::binary_iarchive archive_;
};

}  // namespace mpipool::detail
