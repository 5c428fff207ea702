// What a release records of the serializer its model was pre-trained with (config.json, rslicer.summary.serializer),
// and where an embedding run's serializer differs from it. Embedding other texts than pre-training read is allowed
// (the ablations do it on purpose) but said: a model pre-trained with caller_wait and embedded without it reads
// trace edges unlike those it learnt from, and nothing else would tell.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/serializer.h"

namespace rslicer::data {

// The options that shape the texts; max_tokens is left out (pre-training and embedding each have their own budget).
nlohmann::json serializer_record(const SerializerOptions& options);

// One line per recorded option that `options` sets otherwise, e.g. "caller_wait: true in pre-training, false here";
// options the record lacks (a release written before it) are not compared.
std::vector<std::string> serializer_differences(const nlohmann::json& recorded, const SerializerOptions& options);

}  // namespace rslicer::data
