// multipart/form-data parsing (http/multipart.hpp): fields, the file part copied in chunks
// whatever its size, delimiters split across read chunks, and every malformed body a 4xx that
// leaves no file behind.
#include "http/multipart.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using silo::Errc;
using silo::http::parse_multipart;

namespace {

const std::string kType = "multipart/form-data; boundary=XyZ";

class Multipart : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fs::temp_directory_path() / ("silo-mp-" + std::to_string(::getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::string body_file(const std::string& bytes) {
        auto p = (dir / "body").string();
        std::ofstream(p, std::ios::binary) << bytes;
        return p;
    }
    std::string file_path() const { return (dir / "file").string(); }
    static std::string slurp(const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    auto parse(const std::string& bytes, const std::string& type = kType) {
        return parse_multipart(type, body_file(bytes), "file", file_path());
    }
    void expect_rejected(const std::string& bytes, Errc code, const std::string& type = kType) {
        auto r = parse(bytes, type);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, code) << r.error().message;
        EXPECT_FALSE(fs::exists(file_path())) << "a rejected body leaves no file";
    }
    fs::path dir;
};

std::string part(const std::string& name, const std::string& value, const std::string& extra = "") {
    return "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"" + extra + "\r\n\r\n" + value + "\r\n";
}

TEST_F(Multipart, FieldsAndFile) {
    // Boundary-like bytes that are no delimiter (a delimiter is CRLF "--" boundary).
    std::string file = "line1--XyZ\r\n-XyZ\r\n--Xy\r\n\r\n";
    file.push_back('\0');
    auto r = parse("preamble to ignore\r\n" + part("context", "manual") +
                   part("file", file, "; filename=\"a \\\"b\\\".FCStd\"\r\nContent-Type: application/octet-stream") +
                   part("comment", "") + "--XyZ--\r\nepilogue");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->fields.at("context"), "manual");
    EXPECT_EQ(r->fields.at("comment"), "");
    EXPECT_EQ(r->file_name, "a \"b\".FCStd");
    EXPECT_EQ(r->file_size, static_cast<std::int64_t>(file.size()));
    EXPECT_EQ(slurp(r->file.path()), file);
}

TEST_F(Multipart, LargeFileAcrossChunksWithDelimiterOnEveryOffset) {
    // Sizes around the 64 KiB read chunk put the closing delimiter across a chunk boundary.
    for (std::size_t n : {65536u - 20, 65536u - 7, 65536u - 1, 65536u, 65536u + 3, 3 * 65536u + 11}) {
        std::string file(n, 'a');
        for (std::size_t i = 0; i < n; i += 1000) file[i] = '\r';
        auto r = parse(part("file", file) + "--XyZ--");
        ASSERT_TRUE(r.ok()) << n << ": " << r.error().message;
        EXPECT_EQ(r->file_size, static_cast<std::int64_t>(n));
        EXPECT_TRUE(slurp(r->file.path()) == file) << n;
    }
}

TEST_F(Multipart, TempFileIsRemovedUnlessReleased) {
    std::string path;
    {
        auto r = parse(part("file", "abc") + "--XyZ--");
        ASSERT_TRUE(r.ok());
        path = r->file.path();
        EXPECT_TRUE(fs::exists(path));
    }
    EXPECT_FALSE(fs::exists(path));
    {
        auto r = parse(part("file", "abc") + "--XyZ--");
        ASSERT_TRUE(r.ok());
        r->file.release();
    }
    EXPECT_TRUE(fs::exists(file_path()));
}

TEST_F(Multipart, PaddingAfterBoundaryAndNoFilePart) {
    auto r = parse("--XyZ \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->fields.at("a"), "1");
    EXPECT_TRUE(r->file.empty());
}

TEST_F(Multipart, MalformedBodiesAreRejected) {
    const std::string good = part("context", "manual") + part("file", "data") + "--XyZ--\r\n";
    expect_rejected(good, Errc::unsupported_media_type, "application/json");
    expect_rejected(good, Errc::bad_request, "multipart/form-data");
    expect_rejected(good, Errc::bad_request, "multipart/form-data; boundary=\"unterminated");
    expect_rejected(good, Errc::bad_request, "multipart/form-data; boundary=other");
    expect_rejected("", Errc::bad_request);
    for (std::size_t cut : {5u, 20u, 40u, 60u, 75u, 85u}) {
        SCOPED_TRACE(cut);
        ASSERT_LT(cut, good.size() - 4);
        expect_rejected(good.substr(0, cut), Errc::bad_request);
    }
    expect_rejected(good.substr(0, good.size() - 4), Errc::bad_request);  // "--XyZ" without its "--"
    expect_rejected("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", Errc::bad_request);  // no name
    expect_rejected("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", Errc::bad_request);
    expect_rejected("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--", Errc::bad_request);
    expect_rejected("--XyZjunk\r\n" + part("a", "b") + "--XyZ--", Errc::bad_request);
    expect_rejected(part("file", "a") + part("file", "b") + "--XyZ--", Errc::bad_request);
    expect_rejected(part("big", std::string(70000, 'x')) + "--XyZ--", Errc::bad_request);
    std::string long_header = "--XyZ\r\nX-Long: ";
    long_header.append(20000, 'h');
    expect_rejected(long_header + "\r\n\r\n", Errc::bad_request);
    std::string many;
    for (int i = 0; i < 70; ++i) many += part(std::string("f").append(std::to_string(i)), "v");
    expect_rejected(many + "--XyZ--", Errc::bad_request);
}

}  // namespace
