// Type traits shared by the event codec and the event JSON writer.

#pragma once

#include <optional>
#include <type_traits>
#include <vector>

namespace wfstore {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

}  // namespace wfstore
