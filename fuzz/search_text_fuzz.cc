// Message search text on arbitrary bytes: parse_search, both query renderings and render_snippet.
// Must never crash. The query keeps its bounds and every word is a valid UTF-8 piece of the input
// with no ASCII punctuation in it. The FTS5 output is quoted strings, each maybe followed by ` *`,
// with single spaces between; the tsquery output is quoted lexemes, each maybe followed by `:*`,
// with ` & ` between: nothing the user typed can be an operator. The snippet is valid UTF-8,
// its <mark> tags balance and are never empty, no other `<` or `>` is left, every `&` starts an
// entity, and stripping the tags and entities gives back the input without its marks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/search_text.h"
#include "util/text.h"

namespace {

using namespace chatd::store;

void check(bool ok) {
  if (!ok) std::abort();
}

bool is_ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void check_query(std::string_view input, const SearchQuery& query) {
  check(query.terms.size() <= kMaxSearchTerms);
  std::size_t words = 0;
  for (const auto& term : query.terms) {
    check(!term.words.empty());
    check(!term.prefix || term.words.size() == 1);
    words += term.words.size();
    for (const auto& word : term.words) {
      check(!word.empty() && word.size() <= kMaxSearchWordBytes);
      check(chatd::text::is_valid_utf8(word));
      for (const char c : word) check(static_cast<unsigned char>(c) >= 0x80 || is_ascii_alnum(c));
      check(input.find(word) != std::string_view::npos);
    }
  }
  check(words <= kMaxSearchWords);
  check(query.empty() == (words == 0));
}

// Reads one quoted string at `at` (which must hold `quote`): `quote` doubled stands for itself,
// and with `backslash_escapes` a backslash takes the next byte. Returns the position after the
// closing quote; aborts on an empty or unterminated string.
std::size_t read_quoted(std::string_view s, std::size_t at, char quote, bool backslash_escapes) {
  check(at < s.size() && s[at] == quote);
  std::size_t content = 0;
  for (++at; at < s.size(); ++at, ++content) {
    if (backslash_escapes && s[at] == '\\') {
      check(at + 1 < s.size());
      ++at;
    } else if (s[at] == quote) {
      if (at + 1 < s.size() && s[at + 1] == quote) {
        ++at;
      } else {
        check(content > 0);
        return at + 1;
      }
    }
  }
  std::abort();  // unterminated
}

// `rendered` is quoted operands, each maybe followed by `suffix`, with `separator` between.
void check_operands(std::string_view rendered, std::size_t terms, char quote,
                    bool backslash_escapes, std::string_view suffix, std::string_view separator) {
  check(rendered.empty() == (terms == 0));
  std::size_t at = 0;
  std::size_t operands = 0;
  while (at < rendered.size()) {
    if (operands > 0) {
      check(rendered.substr(at).starts_with(separator));
      at += separator.size();
    }
    at = read_quoted(rendered, at, quote, backslash_escapes);
    if (rendered.substr(at).starts_with(suffix)) at += suffix.size();
    ++operands;
  }
  check(operands == terms);
}

// What `marked` should read back as from its snippet: marks gone, invalid bytes and control
// characters replaced (only computed for valid UTF-8, so replacement is per control byte).
std::string expected_text(std::string_view marked) {
  std::string out;
  for (const char c : marked) {
    if (c == kMarkOpen.front() || c == kMarkClose.front()) continue;
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out;
}

constexpr std::string_view kEntities[][2] = {
    {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};

// Checks the snippet's tags and escapes and returns its text (tags removed, entities decoded).
std::string snippet_text(std::string_view html) {
  check(chatd::text::is_valid_utf8(html));
  std::string text;
  bool in_mark = false;
  for (std::size_t at = 0; at < html.size();) {
    const auto rest = html.substr(at);
    if (rest.starts_with("<mark>")) {
      check(!in_mark && !rest.substr(6).starts_with("</mark>"));
      in_mark = true;
      at += 6;
    } else if (rest.starts_with("</mark>")) {
      check(in_mark);
      in_mark = false;
      at += 7;
    } else if (rest.front() == '&') {
      bool known = false;
      for (const auto& [entity, character] : kEntities) {
        if (!rest.starts_with(entity)) continue;
        text += character;
        at += entity.size();
        known = true;
        break;
      }
      check(known);
    } else {
      check(rest.front() != '<' && rest.front() != '>');
      check(rest.front() != kMarkOpen.front() && rest.front() != kMarkClose.front());
      text += rest.front();
      ++at;
    }
  }
  check(!in_mark);
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const auto query = parse_search(input);
  check_query(input, query);
  const auto fts5 = to_fts5_match(query);
  check(chatd::text::is_valid_utf8(fts5));
  check_operands(fts5, query.terms.size(), '"', false, " *", " ");
  const auto tsquery = to_tsquery(query);
  check(chatd::text::is_valid_utf8(tsquery));
  check_operands(tsquery, query.terms.size(), '\'', true, ":*", " & ");

  const auto text = snippet_text(render_snippet(input));
  if (chatd::text::is_valid_utf8(input)) check(text == expected_text(input));
  check(render_snippet(without_marks(input)).find("<mark>") == std::string::npos);
  return 0;
}
