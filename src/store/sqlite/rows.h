#pragma once

#include "store/sqlite/connection.h"
#include "store/store.h"

namespace chatd::store::sqlite {

// A user row selected as "id, name, email, pic, is_admin, created_at, updated_at, disabled,
// erased_at IS NOT NULL", from column `first` on.
inline constexpr int kUserColumnCount = 9;

inline User read_user(const Statement& s, int first = 0) {
  User u;
  u.id = s.text(first);
  u.name = s.text(first + 1);
  u.email = s.text(first + 2);
  u.pic = s.text(first + 3);
  u.is_admin = s.int64(first + 4) != 0;
  u.created_at = s.int64(first + 5);
  u.updated_at = s.int64(first + 6);
  u.disabled = s.int64(first + 7) != 0;
  u.erased = s.int64(first + 8) != 0;
  return u;
}

}  // namespace chatd::store::sqlite
