// SharedList<T>: an immutable-when-shared vector whose copies share one
// buffer. Large lists that travel by value through the controller (a
// million prefixes from a file in the policy, its plans and the compiler's
// memory; a million compiled trie keys) are then held once, copied for the
// price of a pointer, and told equal at once when they share their buffer
// (element by element otherwise).
//
// Contract: reads see a const vector (vec(), begin/end, size, operator[]);
// a write (push_back, append) first copies a buffer that another copy
// shares, so no copy ever sees another's write. An empty list holds no
// buffer. Not thread-safe for concurrent writes to one object; copies may be
// read and written from different threads.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

namespace pathsteer {

template <typename T>
class SharedList {
 public:
  using value_type = T;
  using const_iterator = typename std::vector<T>::const_iterator;

  SharedList() = default;
  SharedList(std::vector<T> v)  // NOLINT(google-explicit-constructor): a list is a vector
      : v_(v.empty() ? nullptr : std::make_shared<std::vector<T>>(std::move(v))) {}
  SharedList(std::initializer_list<T> l) : SharedList(std::vector<T>(l)) {}

  const std::vector<T>& vec() const { return v_ ? *v_ : empty_vec(); }
  operator const std::vector<T>&() const { return vec(); }  // NOLINT: read as a vector
  const_iterator begin() const { return vec().begin(); }
  const_iterator end() const { return vec().end(); }
  size_t size() const { return v_ ? v_->size() : 0; }
  bool empty() const { return size() == 0; }
  const T& operator[](size_t i) const { return (*v_)[i]; }
  const T& at(size_t i) const { return vec().at(i); }
  const T& front() const { return vec().front(); }
  const T& back() const { return vec().back(); }
  // Whether the two share their buffer (true for two empty lists).
  bool same(const SharedList& o) const { return v_ == o.v_; }

  void push_back(const T& x) { mut().push_back(x); }
  // Appends `more`; an empty list takes `more`'s buffer itself, shared.
  void append(const SharedList& more) {
    if (empty()) {
      v_ = more.v_;
      return;
    }
    std::vector<T>& v = mut();
    v.insert(v.end(), more.begin(), more.end());
  }

  friend bool operator==(const SharedList& a, const SharedList& b) {
    return a.v_ == b.v_ || a.vec() == b.vec();
  }

 private:
  static const std::vector<T>& empty_vec() {
    static const std::vector<T> kEmpty;
    return kEmpty;
  }
  std::vector<T>& mut() {
    if (!v_ || v_.use_count() > 1)
      v_ = std::make_shared<std::vector<T>>(vec());
    return *v_;
  }

  // Never changed while shared (mut() copies first); null when empty.
  std::shared_ptr<std::vector<T>> v_;
};

}  // namespace pathsteer
