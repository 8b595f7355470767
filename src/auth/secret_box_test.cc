#include "auth/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "auth/key_file.h"

namespace chatd::auth {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

SecretBox test_box() {
  auto box = SecretBox::from_hex(kKeyHex);
  EXPECT_TRUE(box.ok());
  return *box;
}

// A fresh directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("chatd-secret-box-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(SecretBox, SealsAndOpens) {
  const auto box = test_box();
  const auto sealed = box.seal("JBSWY3DPEHPK3PXP", "totp:u1");
  EXPECT_EQ(sealed.rfind("v1.", 0), 0U);
  EXPECT_EQ(sealed.find("JBSWY3DPEHPK3PXP"), std::string::npos);
  for (const char c : sealed) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_');
  }
  const auto opened = box.open(sealed, "totp:u1");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "JBSWY3DPEHPK3PXP");
}

TEST(SecretBox, SealsEmptyAndBinaryPlaintexts) {
  const auto box = test_box();
  EXPECT_EQ(*box.open(box.seal("")), "");
  const std::string binary("\0\xff\x01 z", 5);
  EXPECT_EQ(*box.open(box.seal(binary)), binary);
}

TEST(SecretBox, NoncesAreRandom) {
  const auto box = test_box();
  EXPECT_NE(box.seal("same"), box.seal("same"));
}

TEST(SecretBox, DetectsTampering) {
  const auto box = test_box();
  const auto sealed = box.seal("secret", "totp:u1");
  for (std::size_t i = 3; i < sealed.size(); ++i) {
    auto altered = sealed;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    const auto opened = box.open(altered, "totp:u1");
    ASSERT_FALSE(opened.ok()) << i;
    EXPECT_EQ(opened.error().code, Errc::internal);
  }
  EXPECT_FALSE(box.open(sealed.substr(0, sealed.size() - 1), "totp:u1").ok());
  EXPECT_FALSE(box.open(sealed + "A", "totp:u1").ok());
  EXPECT_FALSE(box.open("v2" + sealed.substr(2), "totp:u1").ok());
  for (const std::string_view garbage : {"", "v1.", "v1.!!!!", "secret", "v1.AAAA"}) {
    EXPECT_FALSE(box.open(garbage).ok()) << garbage;
  }
}

TEST(SecretBox, RefusesAnotherKey) {
  const auto sealed = test_box().seal("secret");
  const auto other = SecretBox::from_hex(std::string(64, 'f'));
  ASSERT_TRUE(other.ok());
  const auto opened = other->open(sealed);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Errc::internal);
}

TEST(SecretBox, BindsAssociatedData) {
  const auto box = test_box();
  const auto sealed = box.seal("secret", "totp:u1");
  EXPECT_FALSE(box.open(sealed, "totp:u2").ok());
  EXPECT_FALSE(box.open(sealed).ok());
  EXPECT_FALSE(box.open(box.seal("secret"), "totp:u1").ok());
}

TEST(SecretBox, ReadsKeysFromConfiguration) {
  const auto sealed = test_box().seal("secret");
  // The same key in upper-case hex with white space around, and in base64 with and without
  // padding.
  std::string upper(kKeyHex);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const Result<SecretBox> same_keys[] = {
      SecretBox::from_hex(" " + upper + "\n"),
      SecretBox::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
      SecretBox::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
  };
  for (const auto& box : same_keys) {
    ASSERT_TRUE(box.ok());
    EXPECT_EQ(*box->open(sealed), "secret");
  }
  EXPECT_TRUE(SecretBox::from_base64(std::string(42, '_') + "w").ok());  // URL-safe alphabet
  EXPECT_TRUE(SecretBox::from_base64(std::string(42, '/') + "w=").ok());

  for (const std::string& bad :
       {std::string(), std::string(62, 'a'), std::string(66, 'a'), std::string(64, 'g'),
        std::string(kKeyHex.substr(0, 63)) + "x", std::string(kKeyHex.substr(0, 62)) + " 0"}) {
    const auto box = SecretBox::from_hex(bad);
    ASSERT_FALSE(box.ok()) << bad;
    EXPECT_EQ(box.error().code, Errc::invalid_input);
  }
  for (const std::string& bad :
       {std::string(), std::string("AAAA"), std::string(44, '*'), std::string(kKeyHex),
        std::string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8fHw==")}) {
    const auto box = SecretBox::from_base64(bad);
    ASSERT_FALSE(box.ok()) << bad;
    EXPECT_EQ(box.error().code, Errc::invalid_input);
  }
}

TEST(SecretBox, KeyFileIsCreatedPrivateAndReused) {
  const TempDir dir;
  const auto key_path = dir.path() / "secret_key";
  const auto sealed = load_or_create_secret_box(dir.path()).seal("secret", "totp:u1");

  struct stat st {};
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  std::ifstream in(key_path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.size(), 64U);
  EXPECT_TRUE(SecretBox::from_hex(line).ok());

  // The next start reads the same key; no temporary file is left behind.
  EXPECT_EQ(*load_or_create_secret_box(dir.path()).open(sealed, "totp:u1"), "secret");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SecretBox, KeyFileDoesNotReplaceAnExistingKey) {
  const TempDir dir;
  std::ofstream(dir.path() / "secret_key") << kKeyHex << "\n";
  const auto sealed = test_box().seal("secret");
  EXPECT_EQ(*load_or_create_secret_box(dir.path()).open(sealed), "secret");
}

TEST(SecretBox, KeyFileThatIsNotAKeyStopsStartUp) {
  const TempDir dir;
  std::ofstream(dir.path() / "secret_key") << "not a key\n";
  EXPECT_THROW(load_or_create_secret_box(dir.path()), std::runtime_error);
  std::ofstream(dir.path() / "secret_key", std::ios::trunc) << "\n";
  EXPECT_THROW(load_or_create_secret_box(dir.path()), std::runtime_error);
}

TEST(KeyFile, ProcessesStartingAtOnceShareOneKey) {
  const TempDir dir;
  const auto key_path = dir.path() / "secret_key";
  std::vector<std::string> keys(8);
  std::vector<std::thread> threads;
  threads.reserve(keys.size());
  for (auto& key : keys) {
    threads.emplace_back([&key, &key_path] { key = load_or_create_key_file(key_path); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& key : keys) EXPECT_EQ(key, keys.front());
  EXPECT_EQ(keys.front().size(), 64U);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace chatd::auth
